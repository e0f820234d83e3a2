#!/usr/bin/env node
// In-process text generation on the embedded tiny-llama-chat model (ONNX Runtime engine, decode loop in its
// worker thread): time to first token, decode tokens/s, and continuous batching at concurrency 8 against
// one sequence at a time, measured in paired rounds (alternating order, median ratio) in one run; then served
// through a real worker process (POST /v1/chat/completions, streamed): time to first token and tokens/s over HTTP,
// served ÷ in-process at concurrency 1 (paired rounds), and /health latency while 8 streams saturate the cores.
// Usage: node bench/generation-bench.mjs [--smoke]
import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import os, { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { Pool } from 'undici'
import {
  benchDir,
  fmt,
  machine,
  percentile,
  smoke,
  startWorker,
  verdict,
  waitReady,
  writeResult,
} from './lib.mjs'

const dist = join(benchDir, '..', 'dist')
const { OnnxGenerationEngine } = await import(
  pathToFileURL(join(dist, 'generation', 'onnx-generation-engine.js')).href
)
const { resolveGenerationFiles } = await import(
  pathToFileURL(join(dist, 'generation', 'generation-files.js')).href
)
const { GenerationSectionSchema } = await import(
  pathToFileURL(join(dist, 'generation', 'generation-manifest.js')).href
)
const { DEFAULT_MODELS_DIR } = await import(
  pathToFileURL(join(dist, 'models', 'default-model-repository.js')).href
)

const MODEL = 'tiny-llama-chat'
const CONCURRENCY = 8
const MAX_TOKENS = 64
const ROUNDS = smoke ? 1 : 7
const ROUND_SECONDS = smoke ? 0.5 : 2
const TTFT_SAMPLES = smoke ? 10 : 200
const TARGET_BATCHING = 3
const TARGET_SERVED_RATIO = 0.9
const TARGET_HEALTH_P99_MS = 20

const { buildTinyLlamaFiles } = await import(pathToFileURL(join(dist, 'models', 'tiny-llama-model.js')).href)

/**
 * The same architecture and tokenizer, wider: about 12 M parameters (48 MB of float32 weights), which no CPU
 * cache holds, so each decode step streams the weights from memory as a real model's does, and batching
 * shares that stream between sequences. The embedded model's 0.2 MB of weights sit in cache, so its steps
 * cost mostly fixed per-run overhead instead.
 */
const WIDE_DIMS = {
  hidden: 512,
  layers: 4,
  heads: 8,
  kvHeads: 2,
  headDim: 64,
  intermediate: 1536,
  contextLength: 512,
}

function writeWideModel() {
  const dir = mkdtempSync(join(tmpdir(), 'tiny-llama-wide-'))
  for (const [file, data] of Object.entries(buildTinyLlamaFiles(WIDE_DIMS))) {
    mkdirSync(dirname(join(dir, file)), { recursive: true })
    writeFileSync(join(dir, file), data)
  }
  return dir
}

const PROMPTS = [
  'Hello! How can I help you today?',
  'What is the capital of France?',
  'Write a short poem about the sea.',
  'Please summarize the following text in one sentence: it was cold in the morning and warm in the afternoon.',
  'Translate to German: good morning.',
  'How does the fleet work?',
  'What is two plus two?',
  'Tell me about the NPU.',
]
const median = (values) =>
  percentile(
    [...values].sort((a, b) => a - b),
    50,
  )

/** An in-process engine on a model folder, as the worker runs it (one intra-op thread, CONCURRENCY sequences). */
function startEngine(modelDir) {
  const section = GenerationSectionSchema.parse({ max_sequences: CONCURRENCY })
  return OnnxGenerationEngine.start({
    name: MODEL,
    version: '1',
    files: resolveGenerationFiles(join(modelDir, '1', 'model.onnx'), modelDir, section),
    threads: 1,
    contextLength: null,
    maxSequences: CONCURRENCY,
    defaultMaxTokens: MAX_TOKENS,
    prefillChunkTokens: section.prefill_chunk_tokens,
    stepTimeoutMs: 60_000,
    loadTimeoutMs: 120_000,
    threadEntry: pathToFileURL(join(dist, 'generation', 'generation-thread.js')),
    faults: null,
  })
}

/** TTFT at concurrency 1, then paired rounds of one-at-a-time vs CONCURRENCY concurrent sequences. */
async function benchModel(modelDir, scale) {
  const engine = await startEngine(modelDir)
  let counter = 0
  /** One chat generation; sampled (seeded per call) so answers differ, ending at max_tokens or an end token. */
  const generateOnce = async () => {
    const n = counter++
    const started = performance.now()
    let first = null
    const result = await engine.generate(
      { kind: 'chat', messages: [{ role: 'user', content: PROMPTS[n % PROMPTS.length] }] },
      { max_tokens: MAX_TOKENS, temperature: 0.8, seed: n },
      { onChunk: () => (first ??= performance.now() - started) },
    )
    return { tokens: result.usage.completion_tokens, ttft: first ?? performance.now() - started }
  }
  /**
   * Aggregate generated tokens per second of wall-clock time, and per CPU-second the process spent (the
   * generation thread, nearly all of it): the second holds still when other processes share the cores.
   */
  const throughput = async (concurrency, seconds) => {
    const end = performance.now() + seconds * 1000
    let tokens = 0
    const t0 = performance.now()
    const cpu0 = process.cpuUsage()
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (performance.now() < end) {
          // Not `tokens += await ...`: that reads `tokens` before the await and loses the other loops' counts.
          const { tokens: generated } = await generateOnce()
          tokens += generated
        }
      }),
    )
    const cpu = process.cpuUsage(cpu0)
    return { wall: tokens / ((performance.now() - t0) / 1000), cpu: tokens / ((cpu.user + cpu.system) / 1e6) }
  }

  // Warm up the session and the JIT.
  for (let i = 0; i < Math.ceil((smoke ? 2 : 20) / scale); i++) await generateOnce()
  const ttfts = []
  for (let i = 0; i < Math.ceil(TTFT_SAMPLES / scale); i++) ttfts.push((await generateOnce()).ttft)
  ttfts.sort((a, b) => a - b)
  const rounds = []
  for (let r = 0; r < ROUNDS; r++) {
    // Alternate which runs first, so drift on a shared machine does not favour one side.
    const order = r % 2 === 0 ? [1, CONCURRENCY] : [CONCURRENCY, 1]
    const figures = {}
    for (const c of order) figures[c] = await throughput(c, ROUND_SECONDS * scale)
    const [single, batched] = [figures[1], figures[CONCURRENCY]]
    rounds.push({
      single: single.wall,
      batched: batched.wall,
      ratio: batched.wall / single.wall,
      cpuRatio: batched.cpu / single.cpu,
    })
  }
  await engine.unload()
  const ratios = rounds.map((r) => r.ratio).sort((a, b) => a - b)
  return {
    ttft50: percentile(ttfts, 50),
    ttft99: percentile(ttfts, 99),
    samples: ttfts.length,
    single: median(rounds.map((r) => r.single)),
    batched: median(rounds.map((r) => r.batched)),
    ratio: median(ratios),
    spread: [ratios[0], ratios.at(-1)],
    cpuRatio: median(rounds.map((r) => r.cpuRatio)),
    seconds: ROUND_SECONDS * scale,
  }
}

const loadBefore = os.loadavg()[0]
const models = [
  [`embedded ${MODEL} (0.2 MB of weights)`, join(DEFAULT_MODELS_DIR, MODEL), 1],
  ['wide variant (48 MB of weights, as a real model: not cache-resident)', writeWideModel(), 2],
]
const rows = []
for (const [label, dir, scale] of models) {
  const r = await benchModel(dir, scale)
  rows.push(
    `| ${label} | ${fmt(r.ttft50, 2)} / ${fmt(r.ttft99, 2)} ms (${r.samples}) | ${fmt(r.single, 0)} | ${fmt(r.batched, 0)} | ${fmt(r.ratio, 2)}× (${fmt(r.spread[0], 2)}–${fmt(r.spread[1], 2)}) ${verdict(r.ratio >= TARGET_BATCHING)} | ${fmt(r.cpuRatio, 2)}× |`,
  )
}

// ---- Served: the same models through a real worker process, side by side with the in-process engine. ----

/** The model.yaml both models are served with: CPU, one intra-op thread, CONCURRENCY sequences. */
const SERVED_MANIFEST = `devices: [CPU]\nthreads: 1\ngeneration: { max_sequences: ${CONCURRENCY} }\n`

/** The streamed chat request of call `n` (the same prompt and seed as the in-process call `n`). */
function chatBody(model, n) {
  return JSON.stringify({
    model,
    messages: [{ role: 'user', content: PROMPTS[n % PROMPTS.length] }],
    max_tokens: MAX_TOKENS,
    temperature: 0.8,
    seed: n,
    stream: true,
    stream_options: { include_usage: true },
  })
}

/** Reads server-sent events from `chunks` (byte chunks): time to the first piece of text, and the usage chunk's tokens. */
async function readEvents(chunks, started) {
  const decoder = new TextDecoder()
  let buffered = ''
  let first = null
  let tokens = 0
  for await (const bytes of chunks) {
    buffered += decoder.decode(bytes, { stream: true })
    const events = buffered.split('\n\n')
    buffered = events.pop() ?? ''
    for (const event of events) {
      const data = event.replace(/^data: /, '')
      if (data === '[DONE]') continue
      const chunk = JSON.parse(data)
      if (first === null && chunk.choices?.[0]?.delta?.content) first = performance.now() - started
      if (chunk.usage) tokens = chunk.usage.completion_tokens
    }
  }
  return { tokens, ttft: first ?? performance.now() - started }
}

/**
 * One streamed chat over HTTP through an undici `Pool` (keep-alive connections, as every other benchmark's
 * client): time to the first piece of text, and the tokens (from the usage chunk).
 */
async function streamOnce(client, model, n) {
  const started = performance.now()
  const response = await client.request({
    path: '/v1/chat/completions',
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: chatBody(model, n),
  })
  if (response.statusCode !== 200)
    throw new Error(`served chat: HTTP ${response.statusCode} ${await response.body.text()}`)
  return readEvents(response.body, started)
}

/**
 * The same through the global `fetch()` (what OpenAI's Node SDK uses): its own per-request cost at the client,
 * measured beside the Pool's so the served ÷ in-process figure is read as the server's cost.
 */
async function fetchOnce(url, model, n) {
  const started = performance.now()
  const response = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: chatBody(model, n),
  })
  if (response.status !== 200)
    throw new Error(`served chat: HTTP ${response.status} ${await response.text()}`)
  return readEvents(response.body, started)
}

/** CPU seconds a process has used (Linux /proc/PID/stat utime + stime, in clock ticks of 1/100 s). */
function processCpuSeconds(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? []
  return (Number(fields[11]) + Number(fields[12])) / 100
}

/**
 * Tokens per second of `once` run back to back for `seconds` (concurrency 1), each run's TTFT, and tokens per
 * CPU-second: this process's, plus the worker's (`workerPid`) for the served side. The CPU figure holds still
 * when other work shares the cores; the wall-clock one does not.
 */
async function sequential(once, seconds, workerPid = null) {
  const end = performance.now() + seconds * 1000
  const t0 = performance.now()
  const cpu0 = process.cpuUsage()
  const worker0 = workerPid === null ? 0 : processCpuSeconds(workerPid)
  let tokens = 0
  const ttfts = []
  while (performance.now() < end) {
    const run = await once()
    tokens += run.tokens
    ttfts.push(run.ttft)
  }
  const cpu = process.cpuUsage(cpu0)
  const workerSeconds = workerPid === null ? 0 : processCpuSeconds(workerPid) - worker0
  const ownSeconds = (cpu.user + cpu.system) / 1e6
  return {
    rate: tokens / ((performance.now() - t0) / 1000),
    perCpu: tokens / (ownSeconds + workerSeconds),
    // The server's own cost: the worker process only (in process, the engine is all of it).
    perServerCpu: tokens / (workerPid === null ? ownSeconds : workerSeconds),
    ttfts,
  }
}

/** /health latencies (ms), polled back to back for `seconds` through a client of its own, while `load` (if any) runs. */
async function healthLatencies(url, seconds) {
  const end = performance.now() + seconds * 1000
  const latencies = []
  const client = new Pool(url, { connections: 1 })
  while (performance.now() < end) {
    const t0 = performance.now()
    const res = await client.request({ path: '/health', method: 'GET' })
    await res.body.arrayBuffer()
    latencies.push(performance.now() - t0)
  }
  await client.close()
  return latencies.sort((a, b) => a - b)
}

async function benchServed(url, workerPid, name, modelDir, scale) {
  const engine = await startEngine(modelDir)
  let counter = 0
  const inProcess = async () => {
    const n = counter++
    const started = performance.now()
    let first = null
    const result = await engine.generate(
      { kind: 'chat', messages: [{ role: 'user', content: PROMPTS[n % PROMPTS.length] }] },
      { max_tokens: MAX_TOKENS, temperature: 0.8, seed: n },
      { onChunk: () => (first ??= performance.now() - started) },
    )
    return { tokens: result.usage.completion_tokens, ttft: first ?? performance.now() - started }
  }
  const client = new Pool(url, { connections: CONCURRENCY })
  const served = () => streamOnce(client, name, counter++)
  for (let i = 0; i < Math.ceil((smoke ? 2 : 10) / scale); i++) await Promise.all([inProcess(), served()])
  const rounds = []
  const ttft = { served: [], inProcess: [], fetch: [] }
  for (let r = 0; r < ROUNDS; r++) {
    const order = r % 2 === 0 ? ['inProcess', 'served'] : ['served', 'inProcess']
    const figures = {}
    for (const side of order) {
      figures[side] =
        side === 'served'
          ? await sequential(served, ROUND_SECONDS * scale, workerPid)
          : await sequential(inProcess, ROUND_SECONDS * scale)
      ttft[side].push(...figures[side].ttfts)
    }
    // A few requests through fetch() in every round, beside the Pool's: what that client adds to the first token.
    for (let i = 0; i < Math.ceil((smoke ? 3 : 20) / scale); i++)
      ttft.fetch.push((await fetchOnce(url, name, counter++)).ttft)
    rounds.push({
      served: figures.served.rate,
      inProcess: figures.inProcess.rate,
      ratio: figures.served.rate / figures.inProcess.rate,
      cpuRatio: figures.served.perCpu / figures.inProcess.perCpu,
      serverCpuRatio: figures.served.perServerCpu / figures.inProcess.perServerCpu,
    })
  }
  await engine.unload()
  // /health while CONCURRENCY streams decode (the worker's generation thread and the client saturate both cores).
  const idle = await healthLatencies(url, smoke ? 0.3 : 2)
  let streaming = true
  const streams = Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (streaming) await served()
    }),
  )
  const busy = await healthLatencies(url, (smoke ? 0.5 : 4) * scale)
  streaming = false
  await streams
  await client.close()
  const sorted = (values) => [...values].sort((a, b) => a - b)
  const ratios = sorted(rounds.map((r) => r.ratio))
  return {
    ttftServed: sorted(ttft.served),
    ttftInProcess: sorted(ttft.inProcess),
    ttftFetch: sorted(ttft.fetch),
    served: median(rounds.map((r) => r.served)),
    inProcess: median(rounds.map((r) => r.inProcess)),
    ratio: median(ratios),
    spread: [ratios[0], ratios.at(-1)],
    cpuRatio: median(rounds.map((r) => r.cpuRatio)),
    serverCpuRatio: median(rounds.map((r) => r.serverCpuRatio)),
    idle,
    busy,
  }
}

const repo = mkdtempSync(join(tmpdir(), 'generation-bench-served-'))
const servedModels = [
  [`embedded ${MODEL}`, MODEL, join(DEFAULT_MODELS_DIR, MODEL), 1],
  ['wide variant (48 MB of weights)', 'tiny-llama-wide', models[1][1], 2],
]
for (const [, name, dir] of servedModels) {
  cpSync(dir, join(repo, name), { recursive: true })
  writeFileSync(join(repo, name, 'model.yaml'), SERVED_MANIFEST)
}
const worker = await startWorker(['--models-dir', repo, '--log-level', 'info'], {
  NPU_WORKER_REQUEST_TIMEOUT_MS: '600000',
})
await waitReady(worker.url, worker.started)
const servedRows = []
for (const [label, name, dir, scale] of servedModels) {
  const r = await benchServed(worker.url, worker.child.pid, name, dir, scale)
  const p = (values, q) => fmt(percentile(values, q), 2)
  servedRows.push(
    `| ${label} | ${p(r.ttftServed, 50)} / ${p(r.ttftServed, 99)} ms | ${p(r.ttftFetch, 50)} / ${p(r.ttftFetch, 99)} ms | ${p(r.ttftInProcess, 50)} / ${p(r.ttftInProcess, 99)} ms | ${fmt(r.served, 0)} | ${fmt(r.inProcess, 0)} | ${fmt(r.ratio, 2)} (${fmt(r.spread[0], 2)}–${fmt(r.spread[1], 2)}) ${verdict(r.ratio >= TARGET_SERVED_RATIO)} | ${fmt(r.cpuRatio, 2)} / ${fmt(r.serverCpuRatio, 2)} | ${p(r.idle, 50)} / ${p(r.idle, 99)} ms | ${p(r.busy, 50)} / ${p(r.busy, 99)} ms (${r.busy.length}) ${verdict(percentile(r.busy, 99) <= TARGET_HEALTH_P99_MS)} |`,
  )
}
worker.child.kill('SIGTERM')
await new Promise((resolve) => worker.child.once('exit', resolve))

const loadAfter = os.loadavg()[0]
writeResult('generation', [
  `### Text generation, in process (\`pnpm --filter @npu-fleet/worker bench:generation\`${smoke ? ' --smoke' : ''})`,
  '',
  `Random-weight tiny-llama-chat models, ${MAX_TOKENS} new tokens per chat (sampled, so some end earlier at an end token), ONNX Runtime engine with its decode loop in one worker thread (1 intra-op thread). Tokens/s are medians of ${ROUNDS} paired rounds (one at a time, then ${CONCURRENCY} concurrent, order alternating); the ratio is the median of the per-round ratios, spread in brackets; the last column divides tokens by the CPU time the process used instead of wall-clock time, which stays meaningful when other processes load the machine. Target: continuous batching at ${CONCURRENCY} ≥ ${TARGET_BATCHING}× one at a time. ${machine()}; 1-minute load average ${fmt(loadBefore)} at the start, ${fmt(loadAfter)} at the end (other work on the machine moves the wall-clock figures).`,
  '',
  `| model | time to first token p50 / p99, concurrency 1 (samples) | tokens/s, one at a time | tokens/s, ${CONCURRENCY} concurrent | batching ratio, wall clock (≥ ${TARGET_BATCHING}×) | batching ratio, per CPU-second |`,
  '| --- | --- | --- | --- | --- | --- |',
  ...rows,
  '',
  `### Text generation, served (\`POST /v1/chat/completions\`, streamed, one real worker process)`,
  '',
  `The same models and requests (${MAX_TOKENS} new tokens, sampled with a per-request seed, so both sides generate the same tokens) through a real worker process on 127.0.0.1: the client (an undici \`Pool\`, keep-alive, as in every other benchmark here) reads the server-sent events and counts the usage chunk's tokens; a few requests per round go through \`fetch()\` instead (OpenAI's Node SDK's client), whose time to first token is shown beside: the difference is that client's own cost, not the server's. Served and in-process throughput at concurrency 1 are measured in ${ROUNDS} paired rounds of ${ROUND_SECONDS} s (×2 for the wide model), order alternating; the ratio is the median of the per-round ratios; the per-CPU-second ratio divides tokens by the CPU time spent (on the served side the client's and the worker process's, then the worker's alone; in process the engine's), which shows what serving costs whatever else loads the machine. Time to first token is from sending the request to the first piece of text (HTTP, routing, queueing, prompt and prefill included). \`/health\` is polled back to back, idle and then while ${CONCURRENCY} streams decode at once (the worker's generation thread, its event loop and this client share the ${os.cpus().length} cores with whatever else runs on the machine). Targets: served ÷ in-process ≥ ${TARGET_SERVED_RATIO}, \`/health\` p99 under load ≤ ${TARGET_HEALTH_P99_MS} ms. The wall-clock figures move with the machine's load (see the load averages above): rerun on a quiet machine for release figures.`,
  '',
  `| model | time to first token p50 / p99, served | the same, client fetch() | the same, in process | tokens/s served, concurrency 1 | tokens/s in process | served ÷ in process (≥ ${TARGET_SERVED_RATIO}) | the same per CPU-second: client + worker / worker alone | /health p50 / p99, idle | /health p50 / p99 with ${CONCURRENCY} streams (samples; ≤ ${TARGET_HEALTH_P99_MS} ms) |`,
  '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ...servedRows,
])
