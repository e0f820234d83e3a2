// The pool against HAProxy in front of the same real workers, side by side in one run (issue 14 §4).
// Scenarios, each in alternating paired rounds: homogeneous (3 equal workers); unequal (100% / 50% / 20% of the
// CPU by SIGSTOP/SIGCONT duty cycles); mixed sizes (80% MLP, 20% detector, on the unequal fleet); failure
// (SIGKILL of one worker mid-run). The pool runs in this process; the HAProxy side is an undici Pool to
// HAProxy, which balances over the workers itself.
import { cpSync } from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'
import { Pool } from 'undici'
import { cpusAllowed, pinnedCores, pinSelf } from '../../../apps/npu-worker/bench/lib.mjs'
import { fmt, measure, median, sleep, startThrottler, startWorker, WORKER_ROOT } from './bench-lib.mjs'
import { ensureHaproxy, startHaproxy } from './haproxy-peer.mjs'

const MODELS = join(WORKER_ROOT, 'generated', 'models')
const silent = { debug() {}, info() {}, warn() {}, error() {} }

// The same knobs on both sides. 8 callers against 3 × 8 slots: a third of the fleet's caps, so the balancer
// chooses where each request goes. Near the sum of the caps every worker is kept full whatever the balancer
// does, and the comparison measures the caps (and the shared CPU) instead of the choice.
const CAP = 8
const CONCURRENCY = 8
const SETTINGS = {
  healthIntervalMs: 1000,
  unhealthyThreshold: 2,
  healthyThreshold: 1,
  failureThreshold: 5,
  maxAttempts: 3,
  attemptTimeoutMs: 10_000,
  taskTimeoutMs: 30_000,
}

const mlpJson = JSON.stringify({
  inputs: [
    {
      name: 'input',
      datatype: 'FP32',
      shape: [1, 384],
      data: Array.from({ length: 384 }, (_, i) => Math.sin(i) / 2),
    },
  ],
})
const mlpRequest = JSON.parse(mlpJson)
const DET_SHAPE = [1, 3, 320, 320]
const detPixels = Float32Array.from({ length: 3 * 320 * 320 }, (_, i) => ((i * 7919) % 255) / 255 - 0.5)

/** The detector request in the KServe binary extension, built per call (the pool encodes per call too). */
function detBinaryBody() {
  const header = Buffer.from(
    JSON.stringify({
      inputs: [
        {
          name: 'x',
          datatype: 'FP32',
          shape: DET_SHAPE,
          parameters: { binary_data_size: detPixels.byteLength },
        },
      ],
      parameters: { binary_data_output: true },
    }),
  )
  return {
    headers: {
      'inference-header-content-length': String(header.length),
      'content-type': 'application/octet-stream',
    },
    body: Buffer.concat([header, Buffer.from(detPixels.buffer)]),
  }
}

/** Every 5th call of a caller is a detector request in the mixed scenario. */
const isDetector = (mixed, i) => mixed && i % 5 === 4

function poolSide(pool, mixed) {
  return async (i) => {
    const r = isDetector(mixed, i)
      ? await pool.infer(
          'ppocr-det',
          { inputs: [{ name: 'x', datatype: 'FP32', shape: DET_SHAPE, data: detPixels }] },
          { binary: true },
        )
      : await pool.infer('mlp', mlpRequest)
    return r.success
  }
}

function haproxySide(client, mixed) {
  return async (i) => {
    try {
      if (isDetector(mixed, i)) {
        const { headers, body } = detBinaryBody()
        const res = await client.request({
          path: '/v2/models/ppocr-det/infer',
          method: 'POST',
          headers,
          body,
        })
        const bytes = Buffer.from(await res.body.arrayBuffer())
        const split = Number(res.headers['inference-header-content-length'])
        // Read the JSON part like the pool does, so both sides do the same client work.
        return (
          res.statusCode === 200 &&
          Array.isArray(JSON.parse(bytes.subarray(0, split).toString('utf8')).outputs)
        )
      }
      const res = await client.request({
        path: '/v2/models/mlp/infer',
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(mlpRequest),
      })
      const parsed = JSON.parse(await res.body.text())
      return res.statusCode === 200 && Array.isArray(parsed.outputs)
    } catch {
      return false
    }
  }
}

function makePool(NpuWorkerPool, workers) {
  return new NpuWorkerPool({
    config: {
      workers: workers.map((w, i) => ({ id: `w${i}`, url: w.url, enabled: true, max_concurrent_tasks: CAP })),
      load_balancing: {
        health_check_interval: SETTINGS.healthIntervalMs / 1000,
        unhealthy_threshold: SETTINGS.unhealthyThreshold,
        healthy_threshold: SETTINGS.healthyThreshold,
        failure_threshold: SETTINGS.failureThreshold,
        max_attempts: SETTINGS.maxAttempts,
        timeout_seconds: SETTINGS.attemptTimeoutMs / 1000,
        task_timeout_seconds: SETTINGS.taskTimeoutMs / 1000,
        retry_cooldown_seconds: 5,
        max_queued_tasks: 10_000,
      },
    },
    logger: silent,
  })
}

function haproxyFor(workers, cpu) {
  return startHaproxy(
    workers.map((w, i) => ({ name: `w${i}`, port: w.port })),
    {
      maxconn: CAP,
      healthIntervalMs: SETTINGS.healthIntervalMs,
      fall: SETTINGS.unhealthyThreshold,
      rise: SETTINGS.healthyThreshold,
      errorLimit: SETTINGS.failureThreshold,
      retries: SETTINGS.maxAttempts - 1,
      timeoutServerMs: SETTINGS.attemptTimeoutMs,
      timeoutQueueMs: SETTINGS.taskTimeoutMs,
    },
    { cpu },
  )
}

/** Paired rounds over one fleet: each round measures both sides, alternating which goes first. */
async function pairedRounds({ rounds, seconds, warmSeconds, pool, client, front, mixed, throttler }) {
  const runs = { pool: [], haproxy: [] }
  const call = { pool: poolSide(pool, mixed), haproxy: haproxySide(client, mixed) }
  for (const side of ['pool', 'haproxy']) await measure(call[side], CONCURRENCY, warmSeconds)
  for (let r = 0; r < rounds; r++) {
    for (const side of r % 2 === 0 ? ['pool', 'haproxy'] : ['haproxy', 'pool']) {
      const cpu0 = side === 'haproxy' ? front.cpuUs() : 0
      await throttler?.sample()
      const run = await measure(call[side], CONCURRENCY, seconds)
      // How long the throttled workers really ran during this side's window (the same fleet for both sides).
      if (throttler) run.runShares = await throttler.sample()
      // The balancer's CPU per request: in this process for the pool; this process plus HAProxy's otherwise.
      run.balancerCpuUs =
        run.cpuUs + (side === 'haproxy' ? (front.cpuUs() - cpu0) / Math.max(1, run.count) : 0)
      runs[side].push(run)
    }
  }
  return summarise(runs)
}

function summarise(runs) {
  const pick = (list) => ({
    opsPerSec: median(list.map((r) => r.opsPerSec)),
    p50: median(list.map((r) => r.p50)),
    p99: median(list.map((r) => r.p99)),
    errors: list.reduce((a, r) => a + r.errors, 0),
    count: list.reduce((a, r) => a + r.count, 0),
    cpuUs: median(list.map((r) => r.balancerCpuUs ?? r.cpuUs)),
    runShares: list[0]?.runShares?.map((_, w) => median(list.map((r) => r.runShares[w]))) ?? null,
  })
  return {
    pool: pick(runs.pool),
    haproxy: pick(runs.haproxy),
    throughput: median(runs.pool.map((r, i) => r.opsPerSec / runs.haproxy[i].opsPerSec)),
    p99: median(runs.pool.map((r, i) => r.p99 / runs.haproxy[i].p99)),
    throughputRounds: runs.pool.map((r, i) => r.opsPerSec / runs.haproxy[i].opsPerSec),
  }
}

/** One round of the failure scenario for one side: a fresh victim joins the fleet, then is killed mid-run. */
async function failureRound(side, { NpuWorkerPool, workers, repo, seconds, cores }) {
  const victim = await startWorker(repo, { cpu: cores?.server })
  const fleet = [workers[0], workers[1], victim]
  let stop
  let task
  if (side === 'pool') {
    const pool = makePool(NpuWorkerPool, fleet)
    await pool.initialize()
    task = poolSide(pool, false)
    stop = () => pool.close()
  } else {
    const haproxy = await haproxyFor(fleet, cores?.client)
    const client = new Pool(haproxy.url, { connections: CONCURRENCY })
    task = haproxySide(client, false)
    stop = async () => {
      await client.close()
      await haproxy.stop()
    }
  }
  const killer = setTimeout(() => victim.child.kill('SIGKILL'), (seconds * 1000) / 3)
  const result = await measure(task, CONCURRENCY, seconds)
  clearTimeout(killer)
  victim.child.kill('SIGKILL')
  await stop()
  return result
}

/**
 * Runs every scenario; returns `{ skipped: why }` when HAProxy cannot run here, else the figures and the
 * report lines. `repo` is a model repository the section may add models to.
 */
export async function compareWithHaproxy({ NpuWorkerPool, repo, smoke, pin }) {
  const haproxy = ensureHaproxy()
  if (!haproxy.ok) return { skipped: haproxy.why }
  cpSync(join(MODELS, 'ppocr-det'), join(repo, 'ppocr-det'), { recursive: true })
  const N = smoke
    ? { rounds: 1, seconds: 0.3, warmSeconds: 0.1, failureRounds: 1, failureSeconds: 0.6 }
    : // Many short rounds rather than a few long ones: the machine's speed drifts from minute to minute, and
      // the median of more paired ratios moves less with it.
      { rounds: 10, seconds: 2, warmSeconds: 1, failureRounds: 3, failureSeconds: 3 }
  // Pinned: the three workers on the last core, this process (client and pool) and HAProxy on the first, so
  // neither balancer's own CPU is taken from the workers and the workers' from it.
  const pinning = pin ? pinnedCores() : { cores: null, reason: 'not asked (--pin)' }
  const cores = pinning.cores
  const allCores = `0-${os.availableParallelism() - 1}`
  if (cores) pinSelf(cores.client)
  const workers = await Promise.all([0, 1, 2].map(() => startWorker(repo, { cpu: cores?.server })))
  const out = {
    version: haproxy.version,
    scenarios: {},
    pinning: { reason: pinning.reason },
    rounds: N.rounds,
    seconds: N.seconds,
  }
  try {
    let front
    try {
      front = await haproxyFor(workers, cores?.client)
      if (cores)
        out.pinning.allowed = {
          workers: cpusAllowed(workers[0].child.pid),
          haproxy: cpusAllowed(front.pid),
          client: cpusAllowed(process.pid),
        }
    } catch (error) {
      return { skipped: `haproxy did not start: ${error.message.split('\n').at(-1)}` }
    }
    const pool = makePool(NpuWorkerPool, workers)
    await pool.initialize()
    const client = new Pool(front.url, { connections: CONCURRENCY })
    out.config = front.config
    try {
      out.scenarios.homogeneous = await pairedRounds({ ...N, pool, client, front, mixed: false })
      // 100% / 50% / 20%: w1 runs 5 ms of every 10, w2 2 ms of every 10.
      const throttler = await startThrottler([
        { child: workers[1].child, runMs: 5, stopMs: 5 },
        { child: workers[2].child, runMs: 2, stopMs: 8 },
      ])
      out.realtimeThrottle = throttler.realtime
      const before = pool.getWorkers().map((w) => w.successes)
      try {
        // Both sides learn the new speeds before the measured rounds (warm-up inside pairedRounds).
        await sleep(smoke ? 50 : 500)
        out.scenarios.unequal = await pairedRounds({ ...N, pool, client, front, mixed: false, throttler })
        out.scenarios.mixed = await pairedRounds({ ...N, pool, client, front, mixed: true, throttler })
        const shares = pool.getWorkers().map((w, i) => w.successes - before[i])
        out.poolShares = shares.map((s) => s / shares.reduce((a, b) => a + b, 0))
      } finally {
        await throttler.stop()
      }
    } finally {
      await client.close()
      await front.stop()
      await pool.close()
    }
    const failure = { pool: [], haproxy: [] }
    for (let r = 0; r < N.failureRounds; r++) {
      for (const side of r % 2 === 0 ? ['pool', 'haproxy'] : ['haproxy', 'pool'])
        failure[side].push(
          await failureRound(side, { NpuWorkerPool, workers, repo, seconds: N.failureSeconds, cores }),
        )
    }
    out.scenarios.failure = summarise(failure)
  } finally {
    for (const w of workers) {
      w.child.kill('SIGCONT')
      w.child.kill('SIGKILL')
    }
    if (cores) pinSelf(allCores)
  }
  return out
}

/** Where the processes ran: pinned (with the cores the kernel reports for each) or sharing every core. */
function pinningLine(pinning) {
  const a = pinning.allowed
  return a
    ? `Pinned (\`--pin\`): the three workers on core ${a.workers}, the client with the pool and HAProxy on core ${a.client} (\`Cpus_allowed_list\`: workers ${a.workers}, HAProxy ${a.haproxy}, client ${a.client}; the duty-cycle process with the client).`
    : `Not pinned (${pinning.reason}): workers, client and HAProxy share all ${os.availableParallelism()} cores.`
}

/** The report section for {@link compareWithHaproxy}'s result. */
export function haproxyReport(result, smoke) {
  const title = `### Pool vs HAProxy (${smoke ? 'smoke run: tiny counts, figures meaningless' : 'same run'})`
  if (result.skipped)
    return [title, '', `Skipped: ${result.skipped}. No figures are shown rather than made-up ones.`]
  const met = (ok) => (ok ? 'met' : '**missed**')
  const s = result.scenarios
  const row = (name, what, r, targets) => {
    const ok = targets.throughput <= r.throughput && (targets.p99 === undefined || r.p99 <= targets.p99)
    const target = `throughput ≥ ${targets.throughput}×${targets.p99 === undefined ? '' : `, p99 ≤ ${targets.p99}×`}`
    return `| ${name}: ${what} | ${fmt(r.throughput, 2)}× (rounds ${r.throughputRounds.map((x) => fmt(x, 2)).join(', ')}) | ${fmt(r.p99, 2)}× | pool ${fmt(r.pool.opsPerSec, 0)} req/s, p50 ${fmt(r.pool.p50, 2)} ms, p99 ${fmt(r.pool.p99, 1)} ms; HAProxy ${fmt(r.haproxy.opsPerSec, 0)} req/s, p50 ${fmt(r.haproxy.p50, 2)} ms, p99 ${fmt(r.haproxy.p99, 1)} ms; client + balancer CPU per request: pool ${fmt(r.pool.cpuUs, 0)} µs, undici + HAProxy ${fmt(r.haproxy.cpuUs, 0)} µs | ${target} | ${met(ok)} |`
  }
  const f = s.failure
  const shares = (list) => (list ? list.map((x) => `${fmt(x * 100, 1)}%`).join(' / ') : '—')
  return [
    title,
    '',
    pinningLine(result.pinning),
    '',
    `${result.version}, \`balance leastconn\`, active \`GET /health\` checks every ${SETTINGS.healthIntervalMs / 1000} s (fall ${SETTINGS.unhealthyThreshold}, rise ${SETTINGS.healthyThreshold}), \`observe layer7\` + \`error-limit ${SETTINGS.failureThreshold}\` + \`on-error mark-down\`, \`option redispatch\`, \`retries ${SETTINGS.maxAttempts - 1}\` with \`retry-on all-retryable-errors\`, \`maxconn ${CAP}\` per server, one thread; an undici \`Pool\` (${CONCURRENCY} connections) to it. The pool: the same caps, health interval, thresholds and attempts, in this process. Both in front of the same 3 real workers (MLP and PP-OCRv4 detector, ONNX Runtime CPU), ${CONCURRENCY} closed-loop callers, ${result.rounds} paired rounds of ${result.seconds} s per scenario alternating which side goes first; ratios are medians of the per-round ratios (pool ÷ HAProxy).`,
    '',
    '| scenario | throughput pool ÷ HAProxy | p99 pool ÷ HAProxy | medians | target | |',
    '| --- | --- | --- | --- | --- | --- |',
    row('homogeneous', '3 equal workers, MLP (JSON)', s.homogeneous, { throughput: 1.0 }),
    row('unequal', 'workers at 100% / 50% / 20% of the CPU (SIGSTOP/SIGCONT), MLP', s.unequal, {
      throughput: 1.2,
      p99: 0.7,
    }),
    row('mixed sizes', '80% MLP (JSON) + 20% detector 1×3×320×320 (binary), unequal fleet', s.mixed, {
      throughput: 1.2,
      p99: 0.7,
    }),
    `| failure: SIGKILL of 1 of 3 workers a third into each run (${f.pool.count + f.haproxy.count} requests) | ${fmt(f.throughput, 2)}× | ${fmt(f.p99, 2)}× | failed requests: pool ${f.pool.errors} of ${f.pool.count}, HAProxy ${f.haproxy.errors} of ${f.haproxy.count} | pool 0 failed; HAProxy's reported | ${met(f.pool.errors === 0)} |`,
    '',
    `Share of the pool's successes on the unequal fleet (100% / 50% / 20% workers): ${result.poolShares.map((x) => `${fmt(x * 100, 1)}%`).join(' / ')}.`,
    `The duty cycles run in a process of their own${result.realtimeThrottle ? ' at real-time priority (`chrt --fifo`)' : ''}, so neither side's event loop stretches them; measured share of the time the 50% and 20% workers ran (median over each side's rounds): ${['unequal', 'mixed'].map((k) => `${k}: pool ${shares(s[k].pool.runShares)}, HAProxy ${shares(s[k].haproxy.runShares)}`).join('; ')}.`,
  ]
}
