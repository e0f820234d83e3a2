// Pieces the pool benchmarks share: real worker processes, a closed-loop load generator, CPU throttling by
// SIGSTOP/SIGCONT duty cycles, percentiles.
import { execFileSync, spawn } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { onCpus } from '../../../apps/npu-worker/bench/lib.mjs'

const here = dirname(fileURLToPath(import.meta.url))
/** The worker's root (its dist/ and generated/ models). */
export const WORKER_ROOT = join(here, '..', '..', '..', 'apps', 'npu-worker')
/** The built worker entry. */
export const WORKER_ENTRY = join(WORKER_ROOT, 'dist', 'server.js')

/** The MLP's infer request the benchmarks send (JSON, 384 FP32 values). */
export const MLP_REQUEST = {
  inputs: [
    {
      name: 'input',
      datatype: 'FP32',
      shape: [1, 384],
      data: Array.from({ length: 384 }, (_, i) => Math.sin(i) / 2),
    },
  ],
}

/** A `/health` body of a serving (degraded: CPU) npu-worker with the MLP, as the protocol's schema takes it. */
export const SERVING_HEALTH = {
  status: 'degraded',
  service: 'npu-worker',
  version: 'bench',
  protocol_version: 1,
  capabilities: {
    device: 'CPU',
    available: false,
    backend: 'onnxruntime',
    devices: ['CPU'],
    fallback_reason: null,
    openvino: { loaded: false, version: null, error: null },
    tasks: ['ocr', 'embeddings'],
    models: ['mlp'],
  },
  models: [],
  load: { active: 0, queued: 0, capacity: 8, queue_capacity: 64 },
  uptime_seconds: 1,
}

/** Nearest-rank percentile of an ascending array. */
export const percentile = (sorted, p) =>
  sorted.length === 0
    ? Number.NaN
    : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]
/** Median of any array. */
export const median = (xs) =>
  percentile(
    [...xs].sort((a, b) => a - b),
    50,
  )
/** A number with `digits` decimals, or a dash. */
export const fmt = (n, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : '—')
/** Resolves after `ms`. */
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/**
 * Starts a worker on a free loopback port over `modelsDir`; resolves once /health answers 200. With `cpu` (a
 * core list such as "1") the worker and every thread it starts run only there (the worker bench's `onCpus`).
 */
export async function startWorker(modelsDir, { cpu } = {}) {
  const [command, argv] = onCpus(cpu, [
    process.execPath,
    WORKER_ENTRY,
    '--host',
    '127.0.0.1',
    '--port',
    '0',
    '--models-dir',
    modelsDir,
  ])
  const child = spawn(command, argv, { stdio: ['ignore', 'pipe', 'inherit'] })
  const url = await new Promise((resolve, reject) => {
    let buffer = ''
    child.stdout.setEncoding('utf8').on('data', (chunk) => {
      buffer += chunk
      for (const line of buffer.split('\n')) {
        try {
          const entry = JSON.parse(line)
          if (entry.msg === 'listening') resolve(`http://127.0.0.1:${entry.port}`)
        } catch {}
      }
      buffer = buffer.slice(buffer.lastIndexOf('\n') + 1)
    })
    child.once('exit', (code) => reject(new Error(`worker exited with ${code}`)))
  })
  child.stdout.resume()
  for (let i = 0; i < 1200; i++) {
    const ok = await fetch(`${url}/health`).then(
      (r) => r.status === 200,
      () => false,
    )
    if (ok) return { child, url, port: Number(new URL(url).port) }
    await sleep(50)
  }
  throw new Error(`worker at ${url} never became healthy`)
}

/**
 * Closed loop: `concurrency` callers repeat `task(i)` for `seconds` (`task` resolves true on success);
 * ops/s, latency percentiles (ms), failures, and this process's CPU per request (µs).
 */
export async function measure(task, concurrency, seconds) {
  const latencies = []
  let errors = 0
  let n = 0
  const cpu0 = process.cpuUsage()
  const end = performance.now() + seconds * 1000
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const t0 = performance.now()
        if (!(await task(n++))) errors++
        latencies.push(performance.now() - t0)
      }
    }),
  )
  const cpu = process.cpuUsage(cpu0)
  latencies.sort((a, b) => a - b)
  return {
    opsPerSec: (latencies.length - errors) / seconds,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    errors,
    count: latencies.length,
    cpuUs: (cpu.user + cpu.system) / Math.max(1, latencies.length),
  }
}

/**
 * Throttles processes to `runMs` of every `runMs + stopMs` with SIGSTOP/SIGCONT (`[{ child, runMs, stopMs }]`)
 * from a process of its own (bench/throttler.mjs), at real-time priority where this may set it (root, `chrt`),
 * so neither the load generator's event loop nor the machine's load stretches the cycles. `sample()` resolves
 * the share of the time each process was let run since the last sample; `stop()` lets them all run.
 */
export async function startThrottler(targets) {
  const spec = JSON.stringify(targets.map((t) => ({ pid: t.child.pid, runMs: t.runMs, stopMs: t.stopMs })))
  const script = join(here, 'throttler.mjs')
  const realtime = process.getuid?.() === 0 && hasChrt()
  const child = realtime
    ? spawn('chrt', ['--fifo', '10', process.execPath, script, spec], {
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      })
    : spawn(process.execPath, [script, spec], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  await new Promise((resolve, reject) => {
    child.once('spawn', resolve)
    child.once('error', reject)
  })
  const exited = new Promise((resolve) => child.once('exit', resolve))
  return {
    realtime,
    sample: () =>
      new Promise((resolve) => {
        child.once('message', (m) => resolve(m.shares))
        child.send('sample')
      }),
    async stop() {
      if (child.exitCode === null) child.send('stop')
      await exited
      for (const t of targets) t.child.kill('SIGCONT')
    },
  }
}

let chrtFound
function hasChrt() {
  if (chrtFound === undefined) {
    try {
      execFileSync('chrt', ['--fifo', '10', 'true'], { stdio: 'ignore' })
      chrtFound = true
    } catch {
      chrtFound = false
    }
  }
  return chrtFound
}
