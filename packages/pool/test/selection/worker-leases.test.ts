import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { defaultLoadBalancing, parsePoolConfig } from '../../src/config/pool-config.js'
import type { PoolError } from '../../src/errors.js'
import { EjectionCap } from '../../src/selection/ejection-cap.js'
import { type Lease, type RoutedNeed, WorkerLeases } from '../../src/selection/worker-leases.js'
import { PoolWorker } from '../../src/workers/pool-worker.js'

// The bounded wait FIFO in front of full workers, with fake timers for deadlines and Retry-After.
// Workers are real PoolWorker records (their transports are never used here).

const mlp: RoutedNeed = { kind: 'model', name: 'mlp', key: 'model:mlp', path: '/v2/models/mlp/infer' }
const ocr: RoutedNeed = { kind: 'task', name: 'ocr', key: 'task:ocr', path: '/v1/tasks/ocr' }

let workers: PoolWorker[] = []
let maxQueued = 10

function makeWorkers(
  specs: Array<{ id: string; max?: number; priority?: number; tasks?: string[] }>,
): PoolWorker[] {
  const config = parsePoolConfig(
    {
      workers: specs.map((s) => ({
        id: s.id,
        url: 'http://127.0.0.1:9',
        enabled: true,
        max_concurrent_tasks: s.max ?? 1,
        priority: s.priority ?? 5,
      })),
    },
    { env: {} },
  )
  workers = config.workers.map((wc, i) => {
    const w = new PoolWorker(wc, defaultLoadBalancing(), { random: () => 0 })
    w.placeAt(i)
    w.health.record(
      {
        kind: 'serving',
        latencyMs: 1,
        health: {
          status: 'degraded',
          service: 'npu-worker',
          version: '1',
          protocol_version: 1,
          capabilities: {
            device: 'CPU',
            available: false,
            backend: 'onnxruntime',
            devices: ['CPU'],
            fallback_reason: null,
            openvino: { loaded: false, version: null, error: null },
            tasks: specs[i]?.tasks ?? [],
            models: ['mlp'],
          },
          models: [],
          load: { active: 0, queued: 0, capacity: 1, queue_capacity: 1 },
          uptime_seconds: 1,
        },
      },
      { healthyThreshold: 1, unhealthyThreshold: 1 },
      Date.now(),
    )
    return w
  })
  return workers
}

function leases(list: PoolWorker[], cap?: EjectionCap) {
  const l = new WorkerLeases<PoolWorker>({
    maxQueued: () => maxQueued,
    isStale: () => false,
    check: async () => {},
    ...(cap ? { cap } : {}),
  })
  l.workers = list
  return l
}

beforeEach(() => {
  vi.useFakeTimers()
  maxQueued = 10
})
afterEach(async () => {
  vi.useRealTimers()
  await Promise.all(workers.map((w) => w.transport.destroy()))
})

let seq = 0
const acquire = (
  l: WorkerLeases<PoolWorker>,
  need = mlp,
  tried: PoolWorker[] = [],
  deadlineMs = 5000,
  signal?: AbortSignal,
) => l.acquire(need, tried, Date.now() + deadlineMs, signal, ++seq)

/** Records `name` in `order` when the lease arrives. */
const noting = (order: unknown[], name: unknown) => (lease: Lease<PoolWorker>) => {
  order.push(name)
  return lease
}

describe('WorkerLeases', () => {
  it('never puts more than max_concurrent_tasks on a worker: the rest wait in FIFO order', async () => {
    const [a] = makeWorkers([{ id: 'a', max: 2 }])
    const l = leases([a!])
    const order: number[] = []
    const pending = [1, 2, 3, 4].map((n) => acquire(l).then(noting(order, n)))
    await vi.advanceTimersByTimeAsync(0)
    expect(a!.slots.activeTasks).toBe(2)
    expect(l.waiting).toBe(2)
    const first = await pending[0]!
    l.release(first, 'success')
    await vi.advanceTimersByTimeAsync(0)
    expect(order).toEqual([1, 2, 3])
    expect(a!.slots.activeTasks).toBe(2)
    l.release(await pending[1]!, 'success')
    await vi.advanceTimersByTimeAsync(0)
    expect(order).toEqual([1, 2, 3, 4])
    expect(l.waiting).toBe(0)
  })

  it('fails fast with POOL_ERR_QUEUE_FULL when the wait queue is at its bound', async () => {
    maxQueued = 1
    const l = leases(makeWorkers([{ id: 'a' }]))
    await acquire(l)
    const waiting = acquire(l)
    await expect(acquire(l)).rejects.toMatchObject({ code: 'POOL_ERR_QUEUE_FULL' })
    expect(l.waiting).toBe(1)
    void waiting
  })

  it('fails a waiter with POOL_ERR_DEADLINE_EXCEEDED when its deadline passes, and on abort with POOL_ERR_ABORTED', async () => {
    const l = leases(makeWorkers([{ id: 'a' }]))
    await acquire(l)
    const late = acquire(l, mlp, [], 1000)
    const lateResult = late.catch((e: PoolError) => e.code)
    const controller = new AbortController()
    const aborted = acquire(l, mlp, [], 60_000, controller.signal).catch((e: PoolError) => e.code)
    await vi.advanceTimersByTimeAsync(999)
    expect(l.waiting).toBe(2)
    await vi.advanceTimersByTimeAsync(1)
    expect(await lateResult).toBe('POOL_ERR_DEADLINE_EXCEEDED')
    controller.abort()
    expect(await aborted).toBe('POOL_ERR_ABORTED')
    expect(l.waiting).toBe(0)
  })

  it('lets a retry (which already waited once) go before tasks that arrived later', async () => {
    const [a, b] = makeWorkers([{ id: 'a' }, { id: 'b' }])
    const l = leases([a!, b!])
    const held = [await acquire(l), await acquire(l)]
    const order: string[] = []
    const fresh = acquire(l).then(noting(order, 'fresh'))
    const retry = acquire(l, mlp, [a!]).then(noting(order, 'retry'))
    l.release(held[1]!, 'failure')
    await vi.advanceTimersByTimeAsync(0)
    expect(order).toEqual(['retry'])
    expect((await retry).worker.id).toBe('b')
    l.release(held[0]!, 'success')
    await vi.advanceTimersByTimeAsync(0)
    expect(order).toEqual(['retry', 'fresh'])
    await fresh
  })

  it('wakes waiters when a Retry-After back-off ends', async () => {
    const [a] = makeWorkers([{ id: 'a', max: 4 }])
    const l = leases([a!])
    l.backOff(a!, Date.now() + 2000)
    let got: Lease<PoolWorker> | null = null
    void acquire(l).then((lease) => {
      got = lease
    })
    await vi.advanceTimersByTimeAsync(1999)
    expect(got).toBeNull()
    await vi.advanceTimersByTimeAsync(1)
    expect(got).not.toBeNull()
  })

  it('fails waiters at once when no worker can ever serve them (circuit opened while they waited)', async () => {
    const [a] = makeWorkers([{ id: 'a' }])
    const l = leases([a!])
    const held = await acquire(l)
    const waiting = acquire(l).catch((e: PoolError) => e.code)
    for (let i = 0; i < 4; i++) a!.breaker.recordFailure('normal')
    l.release(held, 'failure')
    expect(a!.breaker.state).toBe('open')
    expect(await waiting).toBe('POOL_ERR_NO_WORKERS')
  })

  it('does not let a blocked task type hold up waiters of another', async () => {
    const [a, b] = makeWorkers([
      { id: 'a', tasks: ['ocr'] },
      { id: 'b', tasks: [] },
    ])
    const l = leases([a!, b!])
    const ocrHeld = await acquire(l, ocr)
    const mlpHeld = await acquire(l, mlp)
    expect([ocrHeld.worker.id, mlpHeld.worker.id]).toEqual(['a', 'b'])
    const ocrWaiting = acquire(l, ocr)
    let mlpGot: Lease<PoolWorker> | null = null
    void acquire(l, mlp).then((lease) => {
      mlpGot = lease
    })
    l.release(mlpHeld, 'success')
    await vi.advanceTimersByTimeAsync(0)
    expect(mlpGot).not.toBeNull()
    l.release(ocrHeld, 'success')
    expect((await ocrWaiting).worker.id).toBe('a')
  })

  it('reports unsupported, none and tried at once instead of waiting', async () => {
    const [a] = makeWorkers([{ id: 'a' }])
    const l = leases([a!])
    await expect(acquire(l, ocr)).rejects.toMatchObject({ code: 'POOL_ERR_UNSUPPORTED' })
    await expect(acquire(l, mlp, [a!])).rejects.toMatchObject({ code: 'POOL_ERR_RETRIES_EXHAUSTED' })
    a!.reconfigure({ ...a!.entry, enabled: false }, defaultLoadBalancing())
    await expect(acquire(l)).rejects.toMatchObject({ code: 'POOL_ERR_NO_WORKERS' })
  })

  it('runs an on-demand health check before routing to a worker whose verdict is stale', async () => {
    const [a] = makeWorkers([{ id: 'a' }])
    let stale = true
    const checked: string[] = []
    const l = new WorkerLeases<PoolWorker>({
      maxQueued: () => 10,
      isStale: () => stale,
      check: async (w) => {
        checked.push(w.id)
        stale = false
      },
    })
    l.workers = [a!]
    const lease = await acquire(l)
    expect(checked).toEqual(['a'])
    expect(lease.worker.id).toBe('a')
  })

  it('routes past open circuits of a panicking tier with a bypass permit whose result the breaker ignores', async () => {
    const cap = new EjectionCap(50)
    const [a, b, c] = makeWorkers([
      { id: 'a', max: 2 },
      { id: 'b', max: 2 },
      { id: 'c', max: 2 },
    ])
    const l = leases([a!, b!, c!], cap)
    for (const w of [a!, b!]) for (let i = 0; i < 5; i++) w.breaker.recordFailure('normal')
    expect(cap.update([a!, b!, c!]).map((x) => x.panicking)).toEqual([true])
    const got = [await acquire(l), await acquire(l), await acquire(l), await acquire(l)]
    expect(got.map((g) => [g.worker.id, g.permit, g.panic]).sort()).toEqual([
      ['a', 'bypass', true],
      ['b', 'bypass', true],
      ['c', 'normal', false],
      ['c', 'normal', false],
    ])
    // A bypassing success does not close a circuit, a bypassing failure does not re-open it.
    for (const g of got) l.release(g, g.worker.id === 'a' ? 'success' : 'failure')
    expect([a!.breaker.state, b!.breaker.state, c!.breaker.state]).toEqual(['open', 'open', 'closed'])
    expect(c!.breaker.consecutiveFailures).toBe(2)
  })

  it('fails every waiter on rejectAll (pool closing)', async () => {
    const l = leases(makeWorkers([{ id: 'a' }]))
    await acquire(l)
    const waiting = [acquire(l), acquire(l)].map((p) => p.catch((e: PoolError) => e.code))
    const { PoolError: Err } = await import('../../src/errors.js')
    l.rejectAll(new Err('POOL_ERR_CLOSED', 'closed'))
    expect(await Promise.all(waiting)).toEqual(['POOL_ERR_CLOSED', 'POOL_ERR_CLOSED'])
    expect(l.waiting).toBe(0)
  })
})
