#!/usr/bin/env node
// In-process text generation on the embedded tiny-llama-chat model (ONNX Runtime engine, decode loop in its
// worker thread): time to first token, decode tokens/s, and continuous batching at concurrency 8 against
// one sequence at a time, measured in paired rounds (alternating order, median ratio) in one run. The
// served figures (HTTP routes, /health under load) come with the routes. Usage: node bench/generation-bench.mjs [--smoke]
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import os, { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { benchDir, fmt, machine, percentile, smoke, verdict, writeResult } from './lib.mjs'

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

/** TTFT at concurrency 1, then paired rounds of one-at-a-time vs CONCURRENCY concurrent sequences. */
async function benchModel(modelDir, scale) {
  const section = GenerationSectionSchema.parse({ max_sequences: CONCURRENCY })
  const engine = await OnnxGenerationEngine.start({
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

const loadAfter = os.loadavg()[0]
writeResult('generation', [
  `### Text generation, in process (\`pnpm --filter @npu-fleet/worker bench:generation\`${smoke ? ' --smoke' : ''})`,
  '',
  `Random-weight tiny-llama-chat models, ${MAX_TOKENS} new tokens per chat (sampled, so some end earlier at an end token), ONNX Runtime engine with its decode loop in one worker thread (1 intra-op thread). Tokens/s are medians of ${ROUNDS} paired rounds (one at a time, then ${CONCURRENCY} concurrent, order alternating); the ratio is the median of the per-round ratios, spread in brackets; the last column divides tokens by the CPU time the process used instead of wall-clock time, which stays meaningful when other processes load the machine. Target: continuous batching at ${CONCURRENCY} ≥ ${TARGET_BATCHING}× one at a time. ${machine()}; 1-minute load average ${fmt(loadBefore)} at the start, ${fmt(loadAfter)} at the end (other work on the machine moves the wall-clock figures).`,
  '',
  `| model | time to first token p50 / p99, concurrency 1 (samples) | tokens/s, one at a time | tokens/s, ${CONCURRENCY} concurrent | batching ratio, wall clock (≥ ${TARGET_BATCHING}×) | batching ratio, per CPU-second |`,
  '| --- | --- | --- | --- | --- | --- |',
  ...rows,
])
