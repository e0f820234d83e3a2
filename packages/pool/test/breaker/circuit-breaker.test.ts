import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { CircuitBreaker, type CircuitState } from '../../src/breaker/circuit-breaker.js'

// Fake timers: the OPEN → HALF_OPEN move must happen on time alone, with nobody reading the state.

beforeEach(() => {
  vi.useFakeTimers()
})
afterEach(() => {
  vi.useRealTimers()
})

function breaker(options: Partial<ConstructorParameters<typeof CircuitBreaker>[0]> = {}) {
  const changes: Array<{ state: CircuitState; cooldownMs: number | null }> = []
  const b = new CircuitBreaker({
    failureThreshold: 5,
    cooldownMs: 60_000,
    maxCooldownMs: 300_000,
    random: () => 0,
    onStateChange: (state, detail) => changes.push({ state, cooldownMs: detail.cooldownMs }),
    ...options,
  })
  return { b, changes }
}

const failTimes = (b: CircuitBreaker, n: number) => {
  for (let i = 0; i < n; i++) b.recordFailure(b.acquire() ?? 'normal')
}

describe('CircuitBreaker', () => {
  it('opens after 5 consecutive failures, not after 4, and a success resets the count', () => {
    const { b, changes } = breaker()
    failTimes(b, 4)
    expect(b.state).toBe('closed')
    expect(b.consecutiveFailures).toBe(4)
    b.recordSuccess(b.acquire()!)
    expect(b.consecutiveFailures).toBe(0)
    failTimes(b, 4)
    expect(b.state).toBe('closed')
    failTimes(b, 1)
    expect(b.state).toBe('open')
    expect(b.acquire()).toBeNull()
    expect(b.admits).toBe(false)
    expect(changes).toEqual([{ state: 'open', cooldownMs: 60_000 }])
  })

  it('moves OPEN → HALF_OPEN on time alone, with no reads in between', () => {
    const { b, changes } = breaker()
    failTimes(b, 5)
    vi.advanceTimersByTime(59_999)
    expect(changes.map((c) => c.state)).toEqual(['open'])
    vi.advanceTimersByTime(1)
    // The callback fired from the timer: nothing read the breaker to make it happen.
    expect(changes.map((c) => c.state)).toEqual(['open', 'half_open'])
    expect(b.state).toBe('half_open')
  })

  it('admits exactly one probe in HALF_OPEN; its success closes the circuit', () => {
    const { b } = breaker()
    failTimes(b, 5)
    vi.advanceTimersByTime(60_000)
    expect(b.admits).toBe(true)
    const probe = b.acquire()
    expect(probe).toBe('probe')
    expect(b.admits).toBe(false)
    expect(b.acquire()).toBeNull()
    expect(b.acquire()).toBeNull()
    b.recordSuccess('probe')
    expect(b.state).toBe('closed')
    expect(b.acquire()).toBe('normal')
    expect(b.reopenCount).toBe(0)
  })

  it('re-opens when the probe fails, doubling the cooldown up to the cap', () => {
    const { b, changes } = breaker()
    failTimes(b, 5)
    const cooldowns = [60_000]
    for (let i = 0; i < 4; i++) {
      vi.advanceTimersByTime(b.cooldownMs!)
      expect(b.state).toBe('half_open')
      b.recordFailure(b.acquire()!)
      expect(b.state).toBe('open')
      cooldowns.push(b.cooldownMs!)
    }
    expect(cooldowns).toEqual([60_000, 120_000, 240_000, 300_000, 300_000])
    expect(changes.filter((c) => c.state === 'open').map((c) => c.cooldownMs)).toEqual(cooldowns)
    // After a success the next opening starts from the base cooldown again.
    vi.advanceTimersByTime(300_000)
    b.recordSuccess(b.acquire()!)
    failTimes(b, 5)
    expect(b.cooldownMs).toBe(60_000)
  })

  it('applies jitter that only shortens the cooldown', () => {
    const { b } = breaker({ random: () => 0.999, jitter: 0.1 })
    failTimes(b, 5)
    expect(b.cooldownMs).toBeGreaterThan(54_000)
    expect(b.cooldownMs).toBeLessThan(60_000)
    const { b: b2 } = breaker({ random: () => 0.5, jitter: 0.2 })
    failTimes(b2, 5)
    expect(b2.cooldownMs).toBe(54_000)
  })

  it('ignores late results of requests admitted before the circuit opened', () => {
    const { b } = breaker({ failureThreshold: 2 })
    const early = b.acquire()!
    failTimes(b, 2)
    expect(b.state).toBe('open')
    b.recordSuccess(early)
    expect(b.state).toBe('open')
    vi.advanceTimersByTime(60_000)
    const probe = b.acquire()!
    b.recordFailure(early)
    b.recordSuccess(early)
    expect(b.state).toBe('half_open')
    b.recordSuccess(probe)
    expect(b.state).toBe('closed')
  })

  it('frees the probe slot without a verdict when the probe ends neutrally (bad input, caller abort)', () => {
    const { b } = breaker({ failureThreshold: 1 })
    failTimes(b, 1)
    vi.advanceTimersByTime(60_000)
    b.release(b.acquire()!)
    expect(b.state).toBe('half_open')
    expect(b.acquire()).toBe('probe')
  })

  it('keeps state across configure() and stops its timer on dispose()', () => {
    const { b, changes } = breaker({ failureThreshold: 3 })
    failTimes(b, 2)
    b.configure({ failureThreshold: 5, cooldownMs: 1000, maxCooldownMs: 5000 })
    failTimes(b, 2)
    expect(b.state).toBe('closed')
    failTimes(b, 1)
    expect(b.cooldownMs).toBe(1000)
    b.dispose()
    vi.advanceTimersByTime(10_000)
    expect(b.state).toBe('open')
    expect(changes.map((c) => c.state)).toEqual(['open'])
  })
})
