#!/usr/bin/env node
// `pnpm bench:pool`: in one run, on this machine, against real npu-worker processes serving the generated MLP:
//  1. selection cost with 100 workers (select alone, and a full lease: select + reserve + release);
//  2. the pool's added latency at concurrency 1, and its throughput against a direct undici Pool to the same
//     worker at the same concurrency;
//  3. the pool against undici's BalancedPool over 3 workers where one is slow (throttled with SIGSTOP/SIGCONT);
//  4. 10,000 tasks started at once over 3 workers;
//  5. SIGKILL of 1 of 3 workers in the middle of a run;
//  6. streaming (pool-streaming.mjs): streamed tokens/s through the pool ÷ direct to one worker serving the
//     tiny language model, and the time to first token the pool adds at concurrency 1;
//  7. the pool against HAProxy in front of the same workers (pool-vs-haproxy.mjs): homogeneous, unequal,
//     mixed sizes, failure, in alternating paired rounds (skipped, saying why, when haproxy cannot run).
// Writes bench/results/pool.md. `--smoke` runs tiny counts (CI) into pool.smoke.md and only proves the suite works.
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { dirname, join } from 'node:path'
import { PerformanceObserver, constants as perfConstants } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import v8 from 'node:v8'
import vm from 'node:vm'
import { Bench, hrtimeNow } from 'tinybench'
import { BalancedPool, Pool } from 'undici'
import {
  fmt,
  MLP_REQUEST,
  measure,
  median,
  percentile,
  SERVING_HEALTH,
  startThrottler,
  startWorker,
  WORKER_ENTRY,
  WORKER_ROOT,
} from './bench-lib.mjs'
import { benchStreaming, streamingReport } from './pool-streaming.mjs'
import { compareWithHaproxy, haproxyReport } from './pool-vs-haproxy.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const POOL_DIST = join(here, '..', 'dist')
const MLP_DIR = join(WORKER_ROOT, 'generated', 'models', 'mlp')
for (const [path, how] of [
  [join(POOL_DIST, 'index.js'), 'pnpm --filter @npu-fleet/pool build'],
  [WORKER_ENTRY, 'pnpm --filter @npu-fleet/worker build'],
  [join(MLP_DIR, 'model.yaml'), 'pnpm --filter @npu-fleet/worker build'],
  [
    join(WORKER_ROOT, 'generated', 'models', 'tiny-llama-chat', 'model.yaml'),
    'pnpm --filter @npu-fleet/worker build',
  ],
]) {
  if (!existsSync(path)) {
    console.error(`${path} is missing: run \`${how}\` (or \`pnpm build\`) first`)
    process.exit(1)
  }
}
const { NpuWorkerPool } = await import(join(POOL_DIST, 'index.js'))
const { WorkerSelector } = await import(join(POOL_DIST, 'selection', 'worker-selector.js'))
const { WorkerLeases } = await import(join(POOL_DIST, 'selection', 'worker-leases.js'))
const { PoolWorker } = await import(join(POOL_DIST, 'workers', 'pool-worker.js'))
const { EjectionCap } = await import(join(POOL_DIST, 'selection', 'ejection-cap.js'))
const { parsePoolConfig, defaultLoadBalancing } = await import(join(POOL_DIST, 'config', 'pool-config.js'))

process.env.ORT_DISABLE_TELEMETRY ??= '1'
const smoke = process.argv.includes('--smoke')
// `--only haproxy,overhead` runs just those sections and prints them, writing no result file (a partial run
// never replaces pool.md).
const SECTIONS = ['selection', 'overhead', 'slow', 'burst', 'kill', 'streaming', 'haproxy']
const onlyArg = process.argv.find((a, i) => process.argv[i - 1] === '--only' || a.startsWith('--only='))
const only = onlyArg === undefined ? null : new Set(onlyArg.replace(/^--only=/, '').split(','))
for (const name of only ?? []) {
  if (!SECTIONS.includes(name)) {
    console.error(`--only: unknown section "${name}" (sections: ${SECTIONS.join(', ')})`)
    process.exit(2)
  }
}
const runs = (section) => only === null || only.has(section)
const N = smoke
  ? {
      selectMs: 100,
      rounds: 2,
      seconds: 0.4,
      slowRounds: 1,
      slowSeconds: 0.5,
      burst: 300,
      killTotal: 600,
      killConcurrency: 16,
    }
  : {
      selectMs: 2000,
      rounds: 12,
      seconds: 2,
      slowRounds: 4,
      slowSeconds: 3,
      burst: 10_000,
      killTotal: 30_000,
      killConcurrency: 64,
    }
const CONCURRENCY = 16
const silent = { debug() {}, info() {}, warn() {}, error() {} }

// ---------------------------------------------------------------------------------------------- helpers

const request = MLP_REQUEST
const INFER_PATH = '/v2/models/mlp/infer'

const directCall = (dispatcher) => async () => {
  const res = await dispatcher.request({
    path: INFER_PATH,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(request),
  })
  const parsed = JSON.parse(await res.body.text())
  return res.statusCode === 200 && Array.isArray(parsed.outputs)
}
const poolCall = (pool) => async () => (await pool.infer('mlp', request)).success

function makePool(urls, lb = {}, perWorker = 8, logger = silent) {
  return new NpuWorkerPool({
    config: {
      workers: urls.map((url, i) => ({ id: `w${i}`, url, enabled: true, max_concurrent_tasks: perWorker })),
      load_balancing: lb,
    },
    logger,
  })
}

// ---------------------------------------------------------------------------------------------- 1. selection

async function benchSelection() {
  const tiers = [10, 7, 5, 3]
  const config = parsePoolConfig(
    {
      workers: Array.from({ length: 100 }, (_, i) => ({
        id: `npu-${String(i).padStart(3, '0')}`,
        url: `http://127.0.0.1:${20000 + i}`,
        enabled: true,
        priority: tiers[i % 4],
        max_concurrent_tasks: 8,
      })),
    },
    { env: {} },
  )
  let seed = 7
  const rand = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31
    return seed / 2 ** 31
  }
  const now = Date.now()
  const need = { kind: 'model', name: 'mlp', key: 'model:mlp', path: INFER_PATH, index: 0 }
  const workers = config.workers.map((wc, i) => {
    const w = new PoolWorker(wc, defaultLoadBalancing(), { random: () => 0 })
    w.placeAt(i)
    // A busy fleet: the top tier is full, 10% are down, 10% have open circuits, the rest carry some load and
    // have latency estimates (so the peak-EWMA cost is computed for every worker of the tier selection lands in).
    if (rand() > 0.1)
      w.health.record(
        { kind: 'serving', health: SERVING_HEALTH, latencyMs: 1 },
        { healthyThreshold: 1, unhealthyThreshold: 1 },
        now,
      )
    if (rand() < 0.1) for (let f = 0; f < 5; f++) w.breaker.recordFailure('normal')
    const active = wc.priority === 10 ? 8 : Math.floor(rand() * 8)
    w.latency.observe(need, 1 + rand() * 20, now - Math.floor(rand() * 5000))
    for (let a = 0; a < active; a++) w.slots.take(w.latency.estimate(need, now))
    return w
  })
  const cap = new EjectionCap(50)
  cap.update(workers)
  const selector = new WorkerSelector(cap)
  const leases = new WorkerLeases({ maxQueued: () => 1000, isStale: () => false, check: async () => {}, cap })
  leases.workers = workers
  let picked = 0
  const bench = new Bench({ now: hrtimeNow, time: N.selectMs, warmupTime: smoke ? 20 : 300 })
  bench.add('select (100 workers)', () => {
    if (selector.select(workers, need, Date.now()) !== undefined) picked++
  })
  bench.add('lease: select + reserve + release', async () => {
    const lease = await leases.acquire(need, [], Date.now() + 1000, undefined, 1)
    leases.release(lease, 'success')
  })
  await bench.run()
  // The clock is read once outside: Date.now() itself returns a fresh heap number (ms since 1970 is past V8's
  // small-integer range), 16 bytes per call that the lease path pays once per request, selection or not.
  const at = Date.now()
  const selectOnce = () => {
    if (selector.select(workers, need, at) !== undefined) picked++
  }
  const allocation = bytesPerCall(selectOnce, 20_000)
  selectionScavenges = await scavengesDuring(selectOnce, SCAVENGE_CALLS)
  await Promise.all(workers.map((w) => w.transport.destroy()))
  if (picked === 0) throw new Error('selection never found a worker')
  selectionAllocation = allocation
  return bench.tasks.map((t) => ({
    name: t.name,
    p50us: t.result.latency.p50 * 1000,
    p99us: t.result.latency.p99 * 1000,
    meanUs: t.result.latency.mean * 1000,
    samples: t.result.latency.samplesCount ?? t.result.latency.samples?.length ?? null,
  }))
}

let selectionAllocation = null
let selectionScavenges = null
const SCAVENGE_CALLS = smoke ? 100_000 : 1_000_000
/**
 * Bytes the young generation grew by per call of `fn`, over `n` calls after a full GC (few enough that no
 * scavenge runs in between): 0 for an allocation-free function, up to rounding of the page bookkeeping.
 */
function bytesPerCall(fn, n) {
  v8.setFlagsFromString('--expose-gc')
  const gc = vm.runInNewContext('gc')
  const young = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_used_size
  for (let i = 0; i < 1000; i++) fn()
  gc()
  const before = young()
  for (let i = 0; i < n; i++) fn()
  const after = young()
  return Math.max(0, after - before) / n
}

/** Young-generation collections during `n` calls of `fn` (0 for an allocation-free function). */
async function scavengesDuring(fn, n) {
  let count = 0
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) if (e.detail?.kind === perfConstants.NODE_PERFORMANCE_GC_MINOR) count++
  })
  observer.observe({ entryTypes: ['gc'] })
  vm.runInNewContext('gc')()
  for (let i = 0; i < n; i++) fn()
  // GC entries are delivered asynchronously.
  await new Promise((resolve) => setTimeout(resolve, 50))
  observer.disconnect()
  return count
}

// ---------------------------------------------------------------------------------------------- 2. overhead

async function benchOverhead(url) {
  const direct = new Pool(url, { connections: CONCURRENCY })
  const pool = makePool([url], {}, CONCURRENCY)
  await pool.initialize()
  const serial = { direct: [], pool: [] }
  const parallel = { direct: [], pool: [] }
  // Warm both paths, then pair rounds and alternate which side goes first, so drift on a shared machine
  // (other processes, JIT, worker warm-up) hits both sides alike; the figure is the median of paired ratios.
  await measure(directCall(direct), CONCURRENCY, smoke ? 0.2 : 4)
  await measure(poolCall(pool), CONCURRENCY, smoke ? 0.2 : 4)
  for (let r = 0; r < N.rounds; r++) {
    const sides = r % 2 === 0 ? ['direct', 'pool'] : ['pool', 'direct']
    for (const side of sides) {
      const call = side === 'direct' ? directCall(direct) : poolCall(pool)
      serial[side].push(await measure(call, 1, N.seconds / 2))
      parallel[side].push(await measure(call, CONCURRENCY, N.seconds))
    }
  }
  await pool.close()
  await direct.close()
  const pick = (runs) => ({
    opsPerSec: median(runs.map((r) => r.opsPerSec)),
    p50: median(runs.map((r) => r.p50)),
    p99: median(runs.map((r) => r.p99)),
    errors: runs.reduce((a, r) => a + r.errors, 0),
    cpuUs: median(runs.map((r) => r.cpuUs)),
  })
  const rounds = parallel.pool.map((r, i) => r.opsPerSec / parallel.direct[i].opsPerSec)
  return {
    serialDirect: pick(serial.direct),
    serialPool: pick(serial.pool),
    direct: pick(parallel.direct),
    pool: pick(parallel.pool),
    rounds,
    ratio: median(rounds),
    addedUs: median(serial.pool.map((r, i) => (r.p50 - serial.direct[i].p50) * 1000)),
  }
}

// ---------------------------------------------------------------------------------------------- 3. slow worker

async function benchSlowWorker(workers) {
  const urls = workers.map((w) => w.url)
  // Caps that never bind (24 = the whole concurrency on any one worker): this compares the balancing
  // algorithms (least connections vs BalancedPool's weighted round robin), not two ways of capping.
  const balanced = new BalancedPool(urls, { connections: 24 })
  const pool = makePool(urls, {}, 24)
  await pool.initialize()
  // 2 ms of every 10: a worker at a fifth of the speed of the others (fine-grained, so it is slow on every
  // request rather than frozen now and then).
  const throttler = await startThrottler([{ child: workers[2].child, runMs: 2, stopMs: 8 }])
  const runs = { balanced: [], pool: [] }
  const shares = []
  try {
    for (let r = 0; r < N.slowRounds; r++) {
      const order = r % 2 === 0 ? ['balanced', 'pool'] : ['pool', 'balanced']
      for (const side of order) {
        if (side === 'balanced') {
          runs.balanced.push(await measure(directCall(balanced), 24, N.slowSeconds))
          continue
        }
        const before = pool.getWorkers().map((w) => w.successes)
        runs.pool.push(await measure(poolCall(pool), 24, N.slowSeconds))
        const after = pool.getWorkers().map((w, i) => w.successes - before[i])
        shares.push(after[2] / after.reduce((a, b) => a + b, 0))
      }
    }
  } finally {
    await throttler.stop()
  }
  await pool.close()
  await balanced.close()
  const pick = (list) => ({
    opsPerSec: median(list.map((r) => r.opsPerSec)),
    p50: median(list.map((r) => r.p50)),
    p99: median(list.map((r) => r.p99)),
    errors: list.reduce((a, r) => a + r.errors, 0),
  })
  return { balanced: pick(runs.balanced), pool: pick(runs.pool), slowShare: median(shares) }
}

// ---------------------------------------------------------------------------------------------- 4. burst

async function benchBurst(urls) {
  const pool = makePool(urls, { max_queued_tasks: N.burst, task_timeout_seconds: 300 }, 8)
  await pool.initialize()
  const latencies = []
  const t0 = performance.now()
  const results = await Promise.all(
    Array.from({ length: N.burst }, async (_, i) => {
      const start = performance.now()
      const r = await pool.infer('mlp', {
        inputs: [{ ...request.inputs[0], data: request.inputs[0].data.map((v) => v + i / N.burst) }],
      })
      latencies.push(performance.now() - start)
      return r
    }),
  )
  const wallMs = performance.now() - t0
  const stats = pool.getStats()
  const perWorker = pool.getWorkers().map((w) => w.successes)
  await pool.close()
  latencies.sort((a, b) => a - b)
  const failures = {}
  for (const r of results) if (!r.success) failures[r.code] = (failures[r.code] ?? 0) + 1
  return {
    total: N.burst,
    succeeded: results.filter((r) => r.success).length,
    failures,
    wallMs,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    perWorker,
    retries: stats.attempts.retries,
  }
}

// ---------------------------------------------------------------------------------------------- 5. SIGKILL

async function benchKill(workers) {
  const events = []
  const logger = {
    ...silent,
    error: (fields, msg) => events.push({ at: performance.now(), msg, fields }),
    warn: (fields, msg) => events.push({ at: performance.now(), msg, fields }),
  }
  const pool = makePool(
    workers.map((w) => w.url),
    { max_queued_tasks: 10_000 },
    8,
    logger,
  )
  await pool.initialize()
  const outcomes = new Array(N.killTotal)
  let next = 0
  let killedAt = null
  const killIndex = Math.floor(N.killTotal * 0.3)
  const t0 = performance.now()
  await Promise.all(
    Array.from({ length: N.killConcurrency }, async () => {
      while (next < N.killTotal) {
        const i = next++
        if (i === killIndex) {
          killedAt = performance.now()
          workers[2].child.kill('SIGKILL')
        }
        const r = await pool.infer('mlp', request)
        outcomes[i] = { r, afterKill: killedAt !== null && i > killIndex }
      }
    }),
  )
  const wallMs = performance.now() - t0
  const stats = pool.getStats()
  const victim = pool.getWorkers()[2]
  await pool.close()
  const ok = outcomes.filter((o) => o.r.success).length
  const failures = {}
  for (const o of outcomes) if (!o.r.success) failures[o.r.code] = (failures[o.r.code] ?? 0) + 1
  const share = (list) =>
    list.filter((o) => o.r.success && o.r.workerId === 'w2').length / Math.max(1, list.length)
  const opened = events.find((e) => e.msg.startsWith('circuit opened') && e.fields.worker === 'w2')
  const down = events.find((e) => e.msg.startsWith('worker marked down') && e.fields.worker === 'w2')
  return {
    total: N.killTotal,
    succeeded: ok,
    failures,
    wallMs,
    retries: stats.attempts.retries,
    shareBefore: share(outcomes.slice(0, killIndex)),
    shareAfter: share(outcomes.slice(killIndex + N.killConcurrency)),
    circuit: victim.circuitState,
    openedAfterMs: opened ? opened.at - killedAt : null,
    markedDownAfterMs: down ? down.at - killedAt : null,
  }
}

// ---------------------------------------------------------------------------------------------- run

const repo = mkdtempSync(join(os.tmpdir(), 'pool-bench-models-'))
cpSync(MLP_DIR, join(repo, 'mlp'), { recursive: true })
const started = []
const cleanup = () => {
  for (const w of started) {
    w.child.kill('SIGCONT')
    w.child.kill('SIGKILL')
  }
  rmSync(repo, { recursive: true, force: true })
}
process.once('exit', cleanup)
for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => process.exit(130))

const loadAtStart = os
  .loadavg()
  .map((l) => l.toFixed(2))
  .join(' / ')
/** Runs section `name` (saying so on stderr) unless `--only` leaves it out; null when it did not run. */
async function section(name, what, run) {
  if (!runs(name)) return null
  console.error(what)
  return run()
}
const selection = await section('selection', 'selection with 100 workers…', benchSelection)
if (['overhead', 'slow', 'burst', 'kill'].some(runs)) {
  console.error('starting 3 workers…')
  started.push(...(await Promise.all([startWorker(repo), startWorker(repo), startWorker(repo)])))
}
const overhead = await section('overhead', 'pool vs direct undici Pool…', () => benchOverhead(started[0].url))
const slow = await section('slow', 'pool vs BalancedPool with one slow worker…', () =>
  benchSlowWorker(started),
)
const burst = await section('burst', `${N.burst} tasks at once…`, () => benchBurst(started.map((w) => w.url)))
const kill = await section('kill', 'SIGKILL of 1 of 3 workers mid-run…', () => benchKill(started))
// The comparison starts workers of its own (with the detector too): the ones above leave the cores first.
for (const w of started) w.child.kill('SIGKILL')
const streaming = await section('streaming', 'streaming: pool vs direct to one worker…', () =>
  benchStreaming({ NpuWorkerPool, dist: POOL_DIST, smoke }),
)
const haproxy = await section('haproxy', 'pool vs HAProxy: homogeneous, unequal, mixed sizes, failure…', () =>
  compareWithHaproxy({ NpuWorkerPool, repo, smoke, pin: process.argv.includes('--pin') }),
)

// ---------------------------------------------------------------------------------------------- report

const met = (ok) => (ok ? 'met' : '**missed**')
/** The summary table's rows for the sections that ran. */
function summaryRows() {
  const rows = []
  if (selection) {
    const [sel, lease] = selection
    rows.push(
      `| selection, 100 workers (4 tiers, 10% down, 10% open, top tier full; peak-EWMA cost over the tier it lands in) | p50 ${fmt(sel.p50us, 2)} µs, p99 ${fmt(sel.p99us, 2)} µs (mean ${fmt(sel.meanUs, 2)} µs) | p99 ≤ 5 µs (seed: < 50 ms) | ${met(sel.p99us <= 5)} |`,
      `| selection allocation (young-generation growth over 20,000 selections after a full GC, and young collections during ${SCAVENGE_CALLS.toLocaleString('en-US')} more; the clock read apart) | ${fmt(selectionAllocation, 2)} bytes per selection; ${selectionScavenges} young collections | 0 (allocation-free) | ${met(selectionAllocation !== null && selectionAllocation < 1 && selectionScavenges === 0)} |`,
      `| lease (select + reserve + release, async) | p50 ${fmt(lease.p50us, 2)} µs, p99 ${fmt(lease.p99us, 2)} µs | — | |`,
    )
  }
  if (overhead) {
    const ratio = overhead.ratio
    const roundsText = [...overhead.rounds]
      .sort((a, b) => a - b)
      .map((r) => fmt(r, 2))
      .join(', ')
    const addedUs = overhead.addedUs
    rows.push(
      `| added latency at concurrency 1 (p50 pool − p50 direct) | ${fmt(addedUs, 0)} µs (pool p50 ${fmt(overhead.serialPool.p50, 2)} ms, direct ${fmt(overhead.serialDirect.p50, 2)} ms) | seed: < 100 ms | ${met(addedUs < 100_000)} |`,
      `| throughput, concurrency ${CONCURRENCY}, one worker: pool ÷ direct undici \`Pool\` (median of ${overhead.rounds.length} paired rounds) | ${fmt(ratio, 2)}× (rounds ${roundsText}; medians: pool ${fmt(overhead.pool.opsPerSec, 0)} req/s p99 ${fmt(overhead.pool.p99, 2)} ms, direct ${fmt(overhead.direct.opsPerSec, 0)} req/s p99 ${fmt(overhead.direct.p99, 2)} ms; client CPU per request: pool ${fmt(overhead.pool.cpuUs, 0)} µs, direct ${fmt(overhead.direct.cpuUs, 0)} µs) | ≥ 0.95× | ${met(ratio >= 0.95)} |`,
    )
  }
  if (slow)
    rows.push(
      `| 3 workers, one throttled to 20% (SIGCONT 2 ms / SIGSTOP 8 ms), concurrency 24: pool vs undici \`BalancedPool\` | pool ${fmt(slow.pool.opsPerSec, 0)} req/s, p99 ${fmt(slow.pool.p99, 1)} ms (slow worker got ${fmt(slow.slowShare * 100, 1)}% of tasks); BalancedPool ${fmt(slow.balanced.opsPerSec, 0)} req/s, p99 ${fmt(slow.balanced.p99, 1)} ms | higher throughput and lower p99 | ${met(slow.pool.opsPerSec > slow.balanced.opsPerSec && slow.pool.p99 < slow.balanced.p99)} |`,
    )
  if (burst)
    rows.push(
      `| ${burst.total.toLocaleString('en-US')} tasks started at once over 3 workers (8 in flight each, the rest in the wait FIFO) | ${burst.succeeded}/${burst.total} succeeded in ${fmt(burst.wallMs / 1000, 2)} s (${fmt(burst.total / (burst.wallMs / 1000), 0)} tasks/s; per task p50 ${fmt(burst.p50, 0)} ms, p99 ${fmt(burst.p99, 0)} ms incl. waiting; per worker ${burst.perWorker.join(' / ')})${Object.keys(burst.failures).length ? `; failures ${JSON.stringify(burst.failures)}` : ''} | 100% success | ${met(burst.succeeded === burst.total)} |`,
    )
  if (kill) {
    const killRate = kill.succeeded / kill.total
    rows.push(
      `| SIGKILL of 1 of 3 workers after 30% of ${kill.total.toLocaleString('en-US')} tasks (closed loop, concurrency ${N.killConcurrency}) | ${fmt(killRate * 100, 3)}% succeeded (${kill.total - kill.succeeded} failed${Object.keys(kill.failures).length ? ` ${JSON.stringify(kill.failures)}` : ''}); ${kill.retries} retries; killed worker's circuit ${kill.circuit}${kill.openedAfterMs !== null ? `, opened ${fmt(kill.openedAfterMs, 0)} ms after the kill` : ''}; its share of tasks ${fmt(kill.shareBefore * 100, 1)}% before, ${fmt(kill.shareAfter * 100, 1)}% after | ≥ 99.99%, breaker open, traffic moved | ${met(killRate >= 0.9999 && kill.circuit === 'open' && kill.shareAfter === 0)} |`,
    )
  }
  return rows
}
const lines = []
if (selection || overhead || slow || burst || kill)
  lines.push(
    `### Pool (${smoke ? 'smoke run: tiny counts, figures meaningless' : 'one run of `pnpm bench:pool`'})`,
    '',
    `Command: \`pnpm bench:pool${smoke ? ' --smoke' : ''}\`. ${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'unknown CPU'}), Node ${process.version}; load average when it started ${loadAtStart}.`,
    'Workers: real `npu-worker` processes serving the generated 384→256→16 MLP (ONNX Runtime CPU, 2 instances), on the',
    'same cores as the client, so every figure below is shared-CPU and relative. Request: one 1×384 FP32 row (KServe JSON).',
    '',
    '| figure | result | target | |',
    '| --- | --- | --- | --- |',
    ...summaryRows(),
    '',
    'How: selection is timed per call with tinybench (`hrtimeNow`, timer cost included) over real `PoolWorker` records.',
    'Throughput runs in paired rounds, alternating which side goes first, and the figure is the median of the per-round',
    'ratios (their spread shows how noisy the shared machine was). Both sides serialise the same object and parse the',
    'same answer; the pool also validates it against the protocol schema and sends the deadline header.',
    'Against BalancedPool both sides get 24 callers and caps that never bind (24 per worker). Every number comes from this one run.',
  )
if (streaming) lines.push('', ...streamingReport(streaming, smoke))
if (haproxy) lines.push('', ...haproxyReport(haproxy, smoke))
if (only !== null) {
  console.log(lines.join('\n'))
  cleanup()
  process.exit(0)
}
const outDir = join(here, 'results')
mkdirSync(outDir, { recursive: true })
const out = join(outDir, smoke ? 'pool.smoke.md' : 'pool.md')
writeFileSync(out, `${lines.join('\n')}\n`)
console.log(lines.join('\n'))
console.error(`wrote ${out}`)
cleanup()
process.exit(0)
