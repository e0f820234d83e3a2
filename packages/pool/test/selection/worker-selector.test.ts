import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { CircuitBreaker } from '../../src/breaker/circuit-breaker.js'
import { type SelectableWorker, WorkerSelector, type WorkNeed } from '../../src/selection/worker-selector.js'

// Selection over plain worker records with real circuit breakers; fake timers drive the breakers.

beforeEach(() => {
  vi.useFakeTimers()
})
afterEach(() => {
  vi.useRealTimers()
})

const mlp: WorkNeed = { kind: 'model', name: 'mlp' }
const ocr: WorkNeed = { kind: 'task', name: 'ocr' }

type TestWorker = {
  -readonly [K in keyof SelectableWorker]: SelectableWorker[K]
} & { breaker: CircuitBreaker; models: Set<string>; tasks: Set<string> }

let order = 0
function worker(id: string, extra: Partial<TestWorker> = {}): TestWorker {
  const w: TestWorker = {
    id,
    enabled: true,
    priority: 5,
    active: 0,
    maxConcurrent: 4,
    healthRank: 1,
    backoffUntil: 0,
    idOrder: order++,
    breaker: new CircuitBreaker({
      failureThreshold: 5,
      cooldownMs: 60_000,
      maxCooldownMs: 300_000,
      random: () => 0,
    }),
    models: new Set(['mlp']),
    tasks: new Set(['ocr']),
    serves(need) {
      return need.kind === 'task' ? this.tasks.has(need.name) : this.models.has(need.name)
    },
    ...extra,
  }
  return w
}

function open(w: TestWorker) {
  for (let i = 0; i < 5; i++) w.breaker.recordFailure('normal')
}

describe('WorkerSelector', () => {
  const selector = new WorkerSelector()
  const pick = (workers: TestWorker[], need: WorkNeed = mlp, exclude: SelectableWorker[] = []) =>
    selector.select(workers, need, Date.now(), exclude)?.id

  it('prefers the highest priority tier even when it is busier', () => {
    const workers = [
      worker('low', { priority: 3 }),
      worker('high', { priority: 10, active: 3 }),
      worker('mid', { priority: 7 }),
    ]
    expect(pick(workers)).toBe('high')
  })

  it('picks the fewest active tasks within a tier, then healthy before degraded, then the lowest id', () => {
    expect(pick([worker('a', { active: 2 }), worker('b', { active: 1 }), worker('c', { active: 3 })])).toBe(
      'b',
    )
    expect(pick([worker('a', { healthRank: 1 }), worker('b', { healthRank: 0 })])).toBe('b')
    expect(
      pick([worker('b2', { idOrder: 2 }), worker('a1', { idOrder: 1 }), worker('c3', { idOrder: 3 })]),
    ).toBe('a1')
    // Fewer active wins over healthy: load first, device quality second.
    expect(pick([worker('a', { healthRank: 0, active: 2 }), worker('b', { healthRank: 1, active: 1 })])).toBe(
      'b',
    )
  })

  it('spills to the next tier when the top tier is full or down', () => {
    const top = worker('top', { priority: 10, active: 4 })
    const next = worker('next', { priority: 5 })
    expect(pick([top, next])).toBe('next')
    top.active = 0
    top.healthRank = -1
    expect(pick([top, next])).toBe('next')
  })

  it('skips disabled, unhealthy, open-circuit, backing-off and non-serving workers', () => {
    const open1 = worker('open', { priority: 10 })
    open(open1)
    const workers = [
      worker('disabled', { priority: 10, enabled: false }),
      worker('down', { priority: 10, healthRank: -1 }),
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
    expect(pick([d, worker('e', { healthRank: -1 }), worker('f', { enabled: false })])).toBeUndefined()
    expect(selector.miss).toBe('none')
  })

  it('excludes workers this task already tried', () => {
    const a = worker('a', { priority: 10 })
    const b = worker('b', { priority: 5 })
    expect(pick([a, b], mlp, [a])).toBe('b')
  })
})
