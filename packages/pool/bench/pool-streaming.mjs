// Streaming through the pool against streaming straight to the same worker, side by side in one run (issue 12):
// streamed tokens/s (pool ÷ direct) at concurrency 1 and at the model's max_sequences, and the time to first
// token the pool adds at concurrency 1 (p50 pool − p50 direct). One real worker serving the generated
// tiny-llama-chat, greedy, a fixed max_tokens; both sides send the same body and read the same SSE events.
import { cpSync, mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'
import { Pool } from 'undici'
import { fmt, median, percentile, startWorker, WORKER_ROOT } from './bench-lib.mjs'

const MODEL = 'tiny-llama-chat'
const MODEL_DIR = join(WORKER_ROOT, 'generated', 'models', MODEL)
const MAX_TOKENS = 48
// The model's max_sequences (its model.yaml): every sequence the worker batches is busy, none waits.
const BUSY = 8
const MESSAGES = [{ role: 'user', content: 'Summarise the shipment report in one line.' }]
const silent = { debug() {}, info() {}, warn() {}, error() {} }

/**
 * Closed loop: `concurrency` callers run `stream()` (resolving `{ tokens, ttftMs }` or null on failure) for
 * `seconds`; streamed tokens/s, time-to-first-token percentiles (ms), failures, this process's CPU per token (µs).
 */
async function measureStreams(stream, concurrency, seconds) {
  const ttft = []
  let tokens = 0
  let errors = 0
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  const end = t0 + seconds * 1000
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const r = await stream()
        if (r === null) {
          errors++
          continue
        }
        tokens += r.tokens
        ttft.push(r.ttftMs)
      }
    }),
  )
  // Streams that started before the end run to completion: the rate is over the time they really took.
  const elapsed = (performance.now() - t0) / 1000
  const cpu = process.cpuUsage(cpu0)
  ttft.sort((a, b) => a - b)
  return {
    tokensPerSec: tokens / elapsed,
    streams: ttft.length,
    ttftP50: percentile(ttft, 50),
    ttftP99: percentile(ttft, 99),
    errors,
    cpuUsPerToken: (cpu.user + cpu.system) / Math.max(1, tokens),
  }
}

/** One stream straight to the worker: undici, the same body the pool sends, the same SSE parsing, JSON per event. */
const directStream = (dispatcher, body, SseReader) => async () => {
  const t0 = performance.now()
  const res = await dispatcher.request({
    path: '/v1/chat/completions',
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
    body,
  })
  if (res.statusCode !== 200) {
    await res.body.text()
    return null
  }
  let ttftMs = null
  let tokens = null
  const reader = new SseReader(res.body)
  for (let data = await reader.read(); data !== undefined; data = reader.take() ?? (await reader.read())) {
    if (data === '[DONE]') break
    const chunk = JSON.parse(data)
    if (chunk.choices.length === 0) tokens = chunk.usage.completion_tokens
    else ttftMs ??= performance.now() - t0
  }
  return ttftMs === null || tokens === null ? null : { tokens, ttftMs }
}

/** One stream through the pool (`include_usage`, as the direct side reads it). */
const poolStream = (pool) => async () => {
  const t0 = performance.now()
  let ttftMs = null
  let tokens = null
  try {
    for await (const chunk of pool.stream(MODEL, MESSAGES, {
      max_tokens: MAX_TOKENS,
      temperature: 0,
      stream_options: { include_usage: true },
    })) {
      if (chunk.choices.length === 0) tokens = chunk.usage.completion_tokens
      else ttftMs ??= performance.now() - t0
    }
  } catch {
    return null
  }
  return ttftMs === null || tokens === null ? null : { tokens, ttftMs }
}

/** Runs the streaming comparison; `dist` is the pool's build directory. */
export async function benchStreaming({ NpuWorkerPool, dist, smoke }) {
  const { SseReader } = await import(join(dist, 'transport', 'sse-events.js'))
  const repo = mkdtempSync(join(os.tmpdir(), 'pool-bench-llm-'))
  cpSync(MODEL_DIR, join(repo, MODEL), { recursive: true })
  const loadAtStart = os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' / ')
  const worker = await startWorker(repo)
  // Many short rounds rather than a few long ones: on a loaded machine a burst of other work then lands in one
  // or two rounds' ratios, which the median sets aside, instead of in one side's long average.
  // 36 pairs: a ratio's rounds spread about ±0.15 here, so the median's 95% interval (below) is about ±0.05, narrow
  // enough to tell a miss of the 0.95 target from noise more often than 24 pairs did.
  const rounds = smoke ? 2 : 36
  const seconds = smoke ? 0.3 : 0.75
  // The body the pool builds for these options (it always asks for the usage chunk).
  const body = JSON.stringify({
    model: MODEL,
    messages: MESSAGES,
    max_tokens: MAX_TOKENS,
    temperature: 0,
    stream: true,
    stream_options: { include_usage: true },
  })
  const direct = new Pool(worker.url, { connections: BUSY })
  const pool = new NpuWorkerPool({
    config: {
      workers: [{ id: 'w0', url: worker.url, enabled: true, max_concurrent_tasks: BUSY }],
      load_balancing: { health_check_interval: 0, health_stale_seconds: 600 },
    },
    logger: silent,
  })
  try {
    await pool.initialize()
    const sides = { direct: directStream(direct, body, SseReader), pool: poolStream(pool) }
    const runs = { 1: { direct: [], pool: [] }, [BUSY]: { direct: [], pool: [] } }
    for (const side of ['direct', 'pool']) await measureStreams(sides[side], BUSY, smoke ? 0.2 : 2)
    // Paired rounds alternating which side goes first, so drift on a shared machine hits both alike.
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? ['direct', 'pool'] : ['pool', 'direct']
      for (const c of [1, BUSY])
        for (const side of order) runs[c][side].push(await measureStreams(sides[side], c, seconds))
    }
    const summary = (c) => {
      const ratios = runs[c].pool.map((p, i) => p.tokensPerSec / runs[c].direct[i].tokensPerSec)
      const pick = (list) => ({
        tokensPerSec: median(list.map((x) => x.tokensPerSec)),
        ttftP50: median(list.map((x) => x.ttftP50)),
        ttftP99: median(list.map((x) => x.ttftP99)),
        streams: list.reduce((a, x) => a + x.streams, 0),
        errors: list.reduce((a, x) => a + x.errors, 0),
        cpuUsPerToken: median(list.map((x) => x.cpuUsPerToken)),
      })
      return {
        concurrency: c,
        ratios,
        ratio: median(ratios),
        interval: medianInterval(ratios),
        cpuRatio: median(runs[c].pool.map((p, i) => p.cpuUsPerToken / runs[c].direct[i].cpuUsPerToken)),
        direct: pick(runs[c].direct),
        pool: pick(runs[c].pool),
        addedTtftMs: median(runs[c].pool.map((p, i) => p.ttftP50 - runs[c].direct[i].ttftP50)),
      }
    }
    return { loadAtStart, serial: summary(1), busy: summary(BUSY) }
  } finally {
    await pool.close()
    await direct.close()
    worker.child.kill('SIGKILL')
    rmSync(repo, { recursive: true, force: true })
  }
}

/**
 * A distribution-free 95% interval of the median of `xs` (the order statistics n/2 ± 0.98·√n): where the median
 * of another run of as many rounds would fall, without assuming the rounds are normal.
 */
function medianInterval(xs) {
  const sorted = [...xs].sort((a, b) => a - b)
  const n = sorted.length
  const half = 0.98 * Math.sqrt(n)
  const at = (rank) => sorted[Math.min(n - 1, Math.max(0, Math.round(rank) - 1))]
  return [at(n / 2 - half), at(n / 2 + 1 + half)]
}

/** The streaming section of bench/results/pool.md. */
export function streamingReport(result, smoke) {
  const met = (ok) => (ok ? 'met' : '**missed**')
  const spread = (ratios) =>
    [...ratios]
      .sort((a, b) => a - b)
      .map((r) => fmt(r, 2))
      .join(', ')
  const row = (s) =>
    `| streamed tokens/s, concurrency ${s.concurrency}: pool ÷ direct (median of ${s.ratios.length} paired rounds) | ${fmt(s.ratio, 3)}× (95% interval of the median ${fmt(s.interval[0], 2)}–${fmt(s.interval[1], 2)}; rounds ${spread(s.ratios)}; medians: pool ${fmt(s.pool.tokensPerSec, 0)} tok/s, direct ${fmt(s.direct.tokensPerSec, 0)} tok/s; client CPU per token: pool ${fmt(s.pool.cpuUsPerToken, 1)} µs, direct ${fmt(s.direct.cpuUsPerToken, 1)} µs, pool ÷ direct ${fmt(s.cpuRatio, 2)} (median of the rounds' ratios); ${s.pool.streams + s.direct.streams} streams, ${s.pool.errors + s.direct.errors} failed) | ≥ 0.95× | ${met(s.ratio >= 0.95)} |`
  const { serial, busy } = result
  return [
    `### Pool: streaming (${smoke ? 'smoke run, figures meaningless' : 'same run'})`,
    '',
    `One real worker serving the generated \`${MODEL}\` (random weights, ONNX Runtime CPU, ${BUSY} sequences batched), chat`,
    `streams of ${MAX_TOKENS} tokens, greedy (\`temperature: 0\`), \`include_usage\`. Direct: an undici \`Pool\` to the same worker`,
    "sending the body the pool sends and reading the same SSE events with the pool's own reader (JSON-parsed); the pool",
    'also checks every chunk against the protocol chunk schema, holds a slot and a sequence, and arms the idle timeout.',
    'Paired rounds alternate which side goes first; each figure is the median of the per-round ratios or differences.',
    `Load average when the section started: ${result.loadAtStart}.`,
    '',
    '| figure | result | target | |',
    '| --- | --- | --- | --- |',
    row(serial),
    row(busy),
    `| time to first token added by the pool, concurrency 1 (p50 pool − p50 direct) | ${fmt(serial.addedTtftMs * 1000, 0)} µs (p50: pool ${fmt(serial.pool.ttftP50, 2)} ms, direct ${fmt(serial.direct.ttftP50, 2)} ms; at concurrency ${busy.concurrency}: pool ${fmt(busy.pool.ttftP50, 1)} ms, direct ${fmt(busy.direct.ttftP50, 1)} ms) | — | |`,
  ]
}
