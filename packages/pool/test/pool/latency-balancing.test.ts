import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { NpuWorkerPool } from '../../src/pool.js'
import type { InferResult } from '../../src/pool-types.js'
import { captureLogger, type MlpFleet, mlpRequest, startMlpFleet, workerEntry } from '../helpers/fleet.js'
import { type Peer, startPeer } from '../helpers/peers.js'

// Balancing within a tier by expected completion, slow start and the ejection cap, against real processes:
// real workers (one throttled with a SIGSTOP/SIGCONT duty cycle), a peer that fails fast with 500s, and
// peers whose /health goes mute while their inference still answers (the case the ejection cap exists for).

let fleet: MlpFleet
let failing: Peer
const mutes: Peer[] = []
const pools: NpuWorkerPool[] = []
let stopThrottle: (() => void) | null = null

beforeAll(async () => {
  const [started, fast500, ...muted] = await Promise.all([
    startMlpFleet(3),
    startPeer('server-error'),
    startPeer('mute-health'),
    startPeer('mute-health'),
    startPeer('mute-health'),
  ])
  fleet = started as MlpFleet
  failing = fast500 as Peer
  mutes.push(...(muted as Peer[]))
})
afterEach(async () => {
  stopThrottle?.()
  stopThrottle = null
  await Promise.all(pools.splice(0).map((p) => p.close()))
})
afterAll(async () => {
  await Promise.all([fleet?.stop(), failing?.stop(), ...mutes.map((p) => p.stop())])
})

async function pool(workers: unknown[], loadBalancing: Record<string, unknown> = {}) {
  const logs = captureLogger()
  const p = new NpuWorkerPool({
    config: { workers, load_balancing: loadBalancing },
    logger: logs,
    random: () => 0,
  })
  pools.push(p)
  await p.initialize()
  return { p, logs }
}
const url = (i: number) => fleet.workers[i]!.url
const countBy = (results: InferResult[]) => {
  const counts: Record<string, number> = {}
  for (const r of results) if (r.success) counts[r.workerId] = (counts[r.workerId] ?? 0) + 1
  return counts
}

/** Runs the worker `runMs` of every `runMs + stopMs` (SIGSTOP/SIGCONT): a slow, loaded machine. */
function throttle(i: number, runMs: number, stopMs: number): void {
  const child = fleet.workers[i]!.process
  let stopped = false
  let timer: NodeJS.Timeout
  const tick = () => {
    stopped = !stopped
    child.kill(stopped ? 'SIGSTOP' : 'SIGCONT')
    timer = setTimeout(tick, stopped ? stopMs : runMs)
  }
  timer = setTimeout(tick, runMs)
  stopThrottle = () => {
    clearTimeout(timer)
    child.kill('SIGCONT')
  }
}

describe('latency-aware balancing (real workers)', () => {
  it('gives a slow worker of the tier a small share, where least connections would favour it by id', async () => {
    // `a-slow` sorts first: least connections with ties by id would send it every request that finds it idle.
    const { p } = await pool(
      [
        workerEntry('a-slow', url(0), { max_concurrent_tasks: 4 }),
        workerEntry('b', url(1), { max_concurrent_tasks: 4 }),
        workerEntry('c', url(2), { max_concurrent_tasks: 4 }),
      ],
      { health_check_interval: 0, health_stale_seconds: 600 },
    )
    throttle(0, 2, 8)
    const results: InferResult[] = []
    // Three callers in closed loops: the fleet is never saturated, so the choice is the balancer's alone.
    await Promise.all(
      Array.from({ length: 3 }, async (_, c) => {
        for (let i = 0; i < 60; i++) results.push(await p.infer('mlp', mlpRequest(1, c * 100 + i)))
      }),
    )
    expect(results.every((r) => r.success)).toBe(true)
    const counts = countBy(results)
    const slow = counts['a-slow'] ?? 0
    expect(slow / results.length).toBeLessThan(0.2)
    expect(counts.b).toBeGreaterThan(slow)
    expect(counts.c).toBeGreaterThan(slow)
    const [w] = p.getWorkers()
    expect(w?.latencyEstimateMs).toBeGreaterThan(0)
  })

  it('does not let a worker that fails fast attract traffic: each failure makes it look slower', async () => {
    const { p } = await pool(
      [workerEntry('a-fails', failing.url), workerEntry('b', url(1))],
      // A breaker that never opens here, so only the balancing keeps traffic away.
      { failure_threshold: 1000, health_check_interval: 0, health_stale_seconds: 600 },
    )
    await failing.sync()
    const before = failing.requests().filter((r) => r.startsWith('POST')).length
    const results: InferResult[] = []
    for (let i = 0; i < 20; i++) results.push(await p.infer('mlp', mlpRequest(1, i)))
    expect(results.every((r) => r.success && r.workerId === 'b')).toBe(true)
    await failing.sync()
    const sent = failing.requests().filter((r) => r.startsWith('POST')).length - before
    // Least connections would have tried it first every time (20 of 20). Each failure doubles its estimate, so
    // it is tried again only when b's own estimate passes it (a slow spell of b's on a loaded machine): a few
    // times, logarithmic in b's worst latency, never most of the time.
    expect(sent).toBeGreaterThan(0)
    expect(sent).toBeLessThanOrEqual(10)
    const [fails, ok] = p.getWorkers()
    expect(fails!.latencyEstimateMs!).toBeGreaterThan(ok!.latencyEstimateMs!)
  })

  it('slow-starts a worker that joins: a trickle at first (10% of its cap), reported in getWorkers()', async () => {
    const { p } = await pool([workerEntry('a', url(0), { max_concurrent_tasks: 4 })], {
      slow_start_seconds: 60,
      health_check_interval: 0,
      health_stale_seconds: 600,
    })
    const reloaded = await p.reloadConfig({
      workers: [
        workerEntry('a', url(0), { max_concurrent_tasks: 4 }),
        workerEntry('b', url(1), { max_concurrent_tasks: 10 }),
      ],
      load_balancing: { slow_start_seconds: 60, health_check_interval: 0, health_stale_seconds: 600 },
    })
    expect(reloaded.success).toBe(true)
    const b = () => p.getWorkers().find((w) => w.id === 'b')!
    expect(b().slowStart).toBeGreaterThanOrEqual(0.1)
    expect(b().slowStart).toBeLessThan(0.2)
    // Ten at once: `a` takes its 4, the ramping `b` 1 (10% of 10), the rest wait for a slot.
    const calls = Array.from({ length: 10 }, (_, i) => p.infer('mlp', mlpRequest(1, i)))
    expect(p.getWorkers().map((w) => [w.id, w.activeTasks])).toEqual([
      ['a', 4],
      ['b', 1],
    ])
    expect(p.getStats().queuedTasks).toBe(5)
    expect((await Promise.all(calls)).every((r) => r.success)).toBe(true)
    // The workers present at start did not ramp.
    expect(p.getWorkers()[0]?.slowStart).toBeNull()
  })
})

describe('ejection cap (real processes)', () => {
  it('keeps a tier whose health checks all go mute in rotation, loudly and counted, instead of emptying it', async () => {
    const lb = (maxEjectionPercent: number) => ({
      health_check_interval: 0,
      health_stale_seconds: 600,
      // Long enough that a loaded machine does not fail the first (answered) probes; the mute ones wait it out.
      health_check_timeout_seconds: 1,
      unhealthy_threshold: 1,
      max_ejection_percent: maxEjectionPercent,
    })
    const workers = [
      ...mutes.map((m, i) => workerEntry(`mute-${i}`, m.url, { priority: 10 })),
      workerEntry('backup', url(2), { priority: 1 }),
    ]
    // Both pools see the peers answer /health first: their identity holds.
    const capped = await pool(workers, lb(50))
    const uncapped = await pool(workers, lb(100))
    for (const { p } of [capped, uncapped]) expect(p.getWorkers().every((w) => w.healthy)).toBe(true)
    // Then every /health of the tier goes mute (an overloaded health route, a broken probe), inference still works.
    await Promise.all(mutes.map((m) => m.turn()))
    await Promise.all([capped.p.checkHealth(), uncapped.p.checkHealth()])
    for (const { p } of [capped, uncapped]) {
      expect(p.getWorkers().map((w) => [w.id, w.healthy])).toEqual([
        ['mute-0', false],
        ['mute-1', false],
        ['mute-2', false],
        ['backup', true],
      ])
    }

    // Capped at 50% (1 of 3): the second worker going out puts the tier past the cap, so it stays in
    // rotation; said once, counted.
    const panicLog = capped.logs.find('error', 'ejection cap reached')
    expect(panicLog).toHaveLength(1)
    expect(panicLog[0]?.fields).toMatchObject({
      priority: 10,
      ejected: 2,
      members: 3,
      allowed: 1,
      panicking: true,
    })
    const served = await Promise.all(
      Array.from({ length: 6 }, (_, i) => capped.p.infer('mlp', mlpRequest(1, i))),
    )
    expect(served.every((r) => r.success && r.workerId.startsWith('mute-'))).toBe(true)
    expect(capped.p.getStats().ejectionCap).toEqual({
      panickingTiers: [10],
      panics: 1,
      routedWhileEjected: 6,
    })
    expect(capped.p.getWorkers().reduce((n, w) => n + w.routedWhileEjected, 0)).toBe(6)

    // Without the cap (100%) the same fleet sends everything to the backup tier.
    const spilled = await Promise.all(
      Array.from({ length: 6 }, (_, i) => uncapped.p.infer('mlp', mlpRequest(1, i))),
    )
    expect(spilled.every((r) => r.success && r.workerId === 'backup')).toBe(true)
    expect(uncapped.p.getStats().ejectionCap).toEqual({
      panickingTiers: [],
      panics: 0,
      routedWhileEjected: 0,
    })
    expect(uncapped.logs.find('error', 'ejection cap reached')).toHaveLength(0)
  })
})
