import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { CircuitBreaker } from '../../src/breaker/circuit-breaker.js'
import { HealthStanding } from '../../src/health/health-standing.js'
import { EjectionCap } from '../../src/selection/ejection-cap.js'
import { LatencyBook } from '../../src/selection/latency-book.js'
import type { SelectableWorker, WorkNeed } from '../../src/selection/selectable-worker.js'
import { SlowStart } from '../../src/selection/slow-start.js'
import { WorkerSelector } from '../../src/selection/worker-selector.js'

// Selection over plain worker records with real circuit breakers, real latency estimates and real slow-start
// ramps; fake timers drive the breakers.

beforeEach(() => {
  vi.useFakeTimers()
})
afterEach(() => {
  vi.useRealTimers()
})

const mlp: WorkNeed = { kind: 'model', name: 'mlp' }
const ocr: WorkNeed = { kind: 'task', name: 'ocr' }

interface TestWorker extends SelectableWorker {
  enabled: boolean
  priority: number
  idOrder: number
  standing: HealthStanding
  breaker: CircuitBreaker
  slots: {
    maxConcurrentTasks: number
    activeTasks: number
    pendingMs: number
    coldInFlight: number
    backoffUntil: number
  }
  latency: LatencyBook
  warmup: SlowStart
  parallelism: number
  models: Set<string>
  tasks: Set<string>
}

interface Spec {
  priority?: number
  enabled?: boolean
  active?: number
  max?: number
  standing?: HealthStanding
  backoffUntil?: number
  idOrder?: number
  models?: Set<string>
  tasks?: Set<string>
  /** A latency sample (ms) taken now. */
  latencyMs?: number
  /** Inferences it runs at once (default 1). */
  parallelism?: number
}

let order = 0
function worker(id: string, spec: Spec = {}): TestWorker {
  const latency = new LatencyBook(10_000)
  if (spec.latencyMs !== undefined) latency.observe(mlp, spec.latencyMs, Date.now())
  const w: TestWorker = {
    id,
    enabled: spec.enabled ?? true,
    priority: spec.priority ?? 5,
    idOrder: spec.idOrder ?? order++,
    standing: spec.standing ?? HealthStanding.DEGRADED,
    breaker: new CircuitBreaker({
      failureThreshold: 5,
      cooldownMs: 60_000,
      maxCooldownMs: 300_000,
      random: () => 0,
    }),
    slots: {
      maxConcurrentTasks: spec.max ?? 4,
      activeTasks: 0,
      pendingMs: 0,
      coldInFlight: 0,
      backoffUntil: spec.backoffUntil ?? 0,
    },
    latency,
    warmup: new SlowStart(),
    parallelism: spec.parallelism ?? 1,
    models: spec.models ?? new Set(['mlp']),
    tasks: spec.tasks ?? new Set(['ocr']),
    serves(need) {
      return need.kind === 'task' ? this.tasks.has(need.name) : this.models.has(need.name)
    },
  }
  busy(w, spec.active ?? 0)
  return w
}

/** Puts `n` requests for `need` in flight on `w`, each sent with the worker's estimate at that moment. */
function busy(w: TestWorker, n: number, need: WorkNeed = mlp): void {
  const each = w.latency.estimate(need, Date.now())
  w.slots.activeTasks = n
  w.slots.pendingMs = each > 0 ? n * each : 0
  w.slots.coldInFlight = each > 0 ? 0 : n
}

function open(w: TestWorker) {
  for (let i = 0; i < 5; i++) w.breaker.recordFailure('normal')
}

describe('WorkerSelector: tiers, eligibility, misses (unchanged rules)', () => {
  const selector = new WorkerSelector()
  const pick = (workers: TestWorker[], need: WorkNeed = mlp, exclude: SelectableWorker[] = []) =>
    selector.select(workers, need, Date.now(), exclude)?.id

  it('prefers the highest priority tier even when it is busier or slower', () => {
    const workers = [
      worker('low', { priority: 3, latencyMs: 1 }),
      worker('high', { priority: 10, active: 3, latencyMs: 500 }),
      worker('mid', { priority: 7 }),
    ]
    expect(pick(workers)).toBe('high')
  })

  it('without latency samples: fewest active within a tier, then healthy before degraded, then the lowest id', () => {
    expect(pick([worker('a', { active: 2 }), worker('b', { active: 1 }), worker('c', { active: 3 })])).toBe(
      'b',
    )
    expect(
      pick([
        worker('a', { standing: HealthStanding.DEGRADED }),
        worker('b', { standing: HealthStanding.HEALTHY }),
      ]),
    ).toBe('b')
    expect(
      pick([worker('b2', { idOrder: 2 }), worker('a1', { idOrder: 1 }), worker('c3', { idOrder: 3 })]),
    ).toBe('a1')
    // Fewer active wins over healthy: load first, device quality second.
    expect(
      pick([
        worker('a', { standing: HealthStanding.HEALTHY, active: 2 }),
        worker('b', { standing: HealthStanding.DEGRADED, active: 1 }),
      ]),
    ).toBe('b')
  })

  it('spills to the next tier when the top tier is full or down', () => {
    const top = worker('top', { priority: 10, active: 4 })
    const next = worker('next', { priority: 5 })
    expect(pick([top, next])).toBe('next')
    busy(top, 0)
    top.standing = HealthStanding.OUT
    expect(pick([top, next])).toBe('next')
  })

  it('skips disabled, out, silent, open-circuit, backing-off and non-serving workers', () => {
    const open1 = worker('open', { priority: 10 })
    open(open1)
    const workers = [
      worker('disabled', { priority: 10, enabled: false }),
      worker('out', { priority: 10, standing: HealthStanding.OUT }),
      worker('silent', { priority: 10, standing: HealthStanding.SILENT }),
      open1,
      worker('backoff', { priority: 10, backoffUntil: Date.now() + 1000 }),
      worker('no-mlp', { priority: 10, models: new Set() }),
      worker('ok', { priority: 1 }),
    ]
    expect(pick(workers)).toBe('ok')
    vi.advanceTimersByTime(1000)
    expect(pick(workers)).toBe('backoff')
  })

  it('routes by task type from the capabilities list', () => {
    const workers = [
      worker('a', { tasks: new Set(['embeddings']) }),
      worker('b', { tasks: new Set(['ocr']), priority: 1 }),
    ]
    expect(pick(workers, ocr)).toBe('b')
    expect(pick(workers, { kind: 'task', name: 'asr' })).toBeUndefined()
    expect(selector.miss).toBe('unsupported')
  })

  it('offers a HALF_OPEN worker only while its single probe slot is free', () => {
    const w = worker('w', { priority: 10 })
    const other = worker('other', { priority: 1 })
    open(w)
    expect(pick([w, other])).toBe('other')
    vi.advanceTimersByTime(60_000)
    expect(w.breaker.state).toBe('half_open')
    expect(pick([w, other])).toBe('w')
    w.breaker.acquire()
    expect(pick([w, other])).toBe('other')
    expect(pick([w])).toBeUndefined()
    expect(selector.miss).toBe('busy')
  })

  it('says why nobody was picked: busy (wait), tried, unsupported, none', () => {
    const a = worker('a', { active: 4 })
    expect(pick([a])).toBeUndefined()
    expect(selector.miss).toBe('busy')
    const b = worker('b')
    expect(pick([b], mlp, [b])).toBeUndefined()
    expect(selector.miss).toBe('tried')
    expect(pick([worker('c', { models: new Set() })])).toBeUndefined()
    expect(selector.miss).toBe('unsupported')
    const d = worker('d')
    open(d)
    expect(
      pick([d, worker('e', { standing: HealthStanding.OUT }), worker('f', { enabled: false })]),
    ).toBeUndefined()
    expect(selector.miss).toBe('none')
  })

  it('excludes workers this task already tried', () => {
    const a = worker('a', { priority: 10 })
    const b = worker('b', { priority: 5 })
    expect(pick([a, b], mlp, [a])).toBe('b')
  })
})

describe('WorkerSelector: latency-aware within a tier (peak-EWMA × (in flight + 1))', () => {
  const selector = new WorkerSelector()
  const pick = (workers: TestWorker[]) => selector.select(workers, mlp, Date.now())?.id

  it('picks the lowest expected completion, not the fewest connections', () => {
    // fast: 2 ms × (3 + 1) = 8; slow: 20 ms × (0 + 1) = 20: the busier fast worker finishes sooner.
    expect(pick([worker('slow', { latencyMs: 20 }), worker('fast', { latencyMs: 2, active: 3 })])).toBe(
      'fast',
    )
    // Until it is busy enough: 2 ms × (10 + 1) = 22 > 20.
    expect(
      pick([worker('slow', { latencyMs: 20 }), worker('fast', { latencyMs: 2, active: 10, max: 16 })]),
    ).toBe('slow')
  })

  it('counts the work in flight, not the requests: a short request is not queued behind long ones', () => {
    const det: WorkNeed = { kind: 'model', name: 'ppocr-det', index: 1 }
    const mlpIndexed: WorkNeed = { kind: 'model', name: 'mlp', index: 0 }
    const pages = worker('pages', { max: 8, models: new Set(['mlp', 'ppocr-det']) })
    const shorts = worker('shorts', { max: 8, models: new Set(['mlp', 'ppocr-det']) })
    for (const w of [pages, shorts]) {
      w.latency.observe(det, 40, Date.now())
      w.latency.observe(mlpIndexed, 1, Date.now())
    }
    busy(pages, 2, det)
    busy(shorts, 3, mlpIndexed)
    // pages: 2 × 40 + 1 = 81 ms of work; shorts: 3 × 1 + 1 = 4 ms, though it has more requests in flight.
    expect(selector.select([pages, shorts], mlpIndexed, Date.now())?.id).toBe('shorts')
    // A page is estimated as a page: 80 + 40 against 3 + 40.
    expect(selector.select([pages, shorts], det, Date.now())?.id).toBe('shorts')
  })

  it("drains the work in flight by the worker's parallelism: one running 4 at once is less busy than it looks", () => {
    // serial: 4 ms × 3 in flight + 4 = 16 > idle's 10; four at once: 4 × 3 ÷ 4 + 4 = 7 < 10.
    expect(pick([worker('idle', { latencyMs: 10 }), worker('busy', { latencyMs: 4, active: 3 })])).toBe(
      'idle',
    )
    expect(
      pick([worker('idle', { latencyMs: 10 }), worker('busy', { latencyMs: 4, active: 3, parallelism: 4 })]),
    ).toBe('busy')
  })

  it('sends a cold worker (no sample yet) one request, and never piles onto it before it answers', () => {
    const warm = worker('warm', { latencyMs: 5, active: 2 })
    const cold = worker('cold')
    expect(pick([warm, cold])).toBe('cold')
    busy(cold, 1)
    expect(pick([warm, cold])).toBe('warm')
    busy(warm, 3)
    expect(pick([warm, cold])).toBe('warm')
  })

  it('keeps a peak at once and forgets it over the decay time, so a worker that was slow is tried again', () => {
    const spiky = worker('spiky', { latencyMs: 2 })
    const steady = worker('steady', { latencyMs: 5 })
    expect(pick([spiky, steady])).toBe('spiky')
    spiky.latency.observe(mlp, 200, Date.now())
    expect(pick([spiky, steady])).toBe('steady')
    // 200 × e^(-t/10 s) < 5 after about 37 s without a sample (steady keeps its own estimate fresh here).
    vi.advanceTimersByTime(40_000)
    steady.latency.observe(mlp, 5, Date.now())
    expect(pick([spiky, steady])).toBe('spiky')
  })

  it('makes a worker that fails fast look slower, never faster (no fast-503 attraction)', () => {
    const failing = worker('failing', { latencyMs: 5 })
    const ok = worker('ok', { latencyMs: 8 })
    expect(pick([failing, ok])).toBe('failing')
    // A 0.2 ms failure would have pulled a plain average down; here it doubles the estimate.
    failing.latency.penalize(mlp, 0.2, Date.now())
    expect(failing.latency.estimate(mlp, Date.now())).toBe(10)
    expect(pick([failing, ok])).toBe('ok')
  })

  it('ramps a slow-starting worker: its cap and its share scale from 10% over the window', () => {
    const ramping = worker('ramping', { latencyMs: 2, max: 10 })
    const other = worker('other', { latencyMs: 2, max: 10, idOrder: 1000 })
    ramping.warmup.begin(Date.now(), 10_000)
    // At the start: cap 1 (10% of 10), cost ÷ 0.1.
    expect(pick([ramping, other])).toBe('other')
    expect(pick([ramping])).toBe('ramping')
    busy(ramping, 1)
    expect(pick([ramping])).toBeUndefined()
    expect(selector.miss).toBe('busy')
    vi.advanceTimersByTime(5_000)
    // Half way: cap 5, cost 2 × 2 ÷ 0.5 = 8 against other's 2 × 1 = 2 (both samples decayed alike).
    expect(pick([ramping])).toBe('ramping')
    vi.advanceTimersByTime(5_000)
    busy(ramping, 0)
    expect(ramping.warmup.factor(Date.now())).toBe(1)
    // Done: equal again, the lower id wins the tie.
    expect(pick([ramping, other])).toBe('ramping')
  })
})

describe('WorkerSelector: ejection cap (panic per tier)', () => {
  it('routes to ejected workers of a panicking tier, says so, and never to one that is out', () => {
    const cap = new EjectionCap(50)
    const selector = new WorkerSelector(cap)
    const a = worker('a', { priority: 10, latencyMs: 3 })
    const b = worker('b', { priority: 10, standing: HealthStanding.SILENT, latencyMs: 50 })
    const c = worker('c', { priority: 10, latencyMs: 1 })
    const out = worker('out', { priority: 10, standing: HealthStanding.OUT })
    const low = worker('low', { priority: 1 })
    open(c)
    const fleet = [a, b, c, out, low]
    // 2 of 3 members out (the OUT one does not count), 1 allowed: the tier panics.
    expect(cap.update(fleet)).toEqual([{ priority: 10, panicking: true, ejected: 2, members: 3, allowed: 1 }])
    // c is the fastest and open: routed to it anyway, flagged as panic.
    expect(selector.select(fleet, mlp, Date.now())?.id).toBe('c')
    expect(selector.panicked).toBe(true)
    busy(c, 4)
    expect(selector.select(fleet, mlp, Date.now())?.id).toBe('a')
    expect(selector.panicked).toBe(false)
    busy(a, 4)
    expect(selector.select(fleet, mlp, Date.now())?.id).toBe('b')
    busy(b, 4)
    // Panic never lifts the caps, and never reaches a worker that is out: the tier is full, spill to the next.
    expect(selector.select(fleet, mlp, Date.now())?.id).toBe('low')
  })

  it('allows at least one ejection per tier, so a tier of one or two can lose a worker without panic', () => {
    const cap = new EjectionCap(50)
    const solo = worker('solo', { priority: 10 })
    open(solo)
    expect(cap.update([solo])).toEqual([])
    const pair = [
      worker('p1', { priority: 5 }),
      worker('p2', { priority: 5, standing: HealthStanding.SILENT }),
    ]
    expect(cap.update([solo, ...pair])).toEqual([])
    expect(cap.panicking(5)).toBe(false)
    open(pair[0] as TestWorker)
    expect(cap.update([solo, ...pair])).toEqual([
      { priority: 5, panicking: true, ejected: 2, members: 2, allowed: 1 },
    ])
    // At 100% the cap never panics.
    const off = new EjectionCap(100)
    expect(off.update([solo, ...pair])).toEqual([])
  })

  it('leaves panic when enough workers are back, and only reports changes', () => {
    const cap = new EjectionCap(50)
    const ws = [worker('x', { priority: 7 }), worker('y', { priority: 7 }), worker('z', { priority: 7 })]
    ws[0]!.standing = HealthStanding.SILENT
    ws[1]!.standing = HealthStanding.SILENT
    expect(cap.update(ws).map((c) => c.panicking)).toEqual([true])
    expect(cap.update(ws)).toEqual([])
    expect(cap.tiers()).toEqual([7])
    ws[1]!.standing = HealthStanding.HEALTHY
    expect(cap.update(ws)).toEqual([{ priority: 7, panicking: false, ejected: 1, members: 3, allowed: 1 }])
    expect(cap.tiers()).toEqual([])
  })
})
