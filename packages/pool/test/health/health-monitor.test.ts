import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { HealthMonitor } from '../../src/health/health-monitor.js'

beforeEach(() => {
  vi.useFakeTimers()
})
afterEach(() => {
  vi.useRealTimers()
})

interface Target {
  id: string
}

describe('HealthMonitor', () => {
  it('runs rounds every interval with jitter, on all workers concurrently', async () => {
    const targets: Target[] = [{ id: 'a' }, { id: 'b' }]
    const started: string[] = []
    const inFlight = new Set<string>()
    let maxInFlight = 0
    const monitor = new HealthMonitor<Target>({
      intervalMs: 30_000,
      targets: () => targets,
      random: () => 0, // the earliest jittered moment: 27 s
      check: async (t) => {
        started.push(t.id)
        inFlight.add(t.id)
        maxInFlight = Math.max(maxInFlight, inFlight.size)
        await new Promise((r) => setTimeout(r, 100))
        inFlight.delete(t.id)
      },
    })
    monitor.start()
    await vi.advanceTimersByTimeAsync(26_999)
    expect(started).toEqual([])
    await vi.advanceTimersByTimeAsync(1)
    expect(started).toEqual(['a', 'b'])
    expect(maxInFlight).toBe(2)
    await vi.advanceTimersByTimeAsync(100 + 27_000)
    expect(started).toEqual(['a', 'b', 'a', 'b'])
    monitor.stop()
    await vi.advanceTimersByTimeAsync(100_000)
    expect(started).toHaveLength(4)
  })

  it('spreads rounds by up to ±10% of the interval', async () => {
    const ticks: number[] = []
    const monitor = new HealthMonitor<Target>({
      intervalMs: 10_000,
      targets: () => [{ id: 'a' }],
      random: () => 0.999_999,
      check: async () => {
        ticks.push(Date.now())
      },
    })
    const t0 = Date.now()
    monitor.start()
    await vi.advanceTimersByTimeAsync(11_000)
    expect(ticks.map((t) => t - t0)).toEqual([11_000])
    monitor.stop()
  })

  it('is single-flight per worker: an on-demand check joins the one in progress', async () => {
    const target: Target = { id: 'a' }
    let calls = 0
    const monitor = new HealthMonitor<Target>({
      intervalMs: 0,
      targets: () => [target],
      check: async () => {
        calls++
        await new Promise((r) => setTimeout(r, 50))
      },
    })
    const first = monitor.check(target)
    const second = monitor.check(target)
    const round = monitor.checkAll()
    expect(second).toBe(first)
    await vi.advanceTimersByTimeAsync(50)
    await Promise.all([first, second, round])
    expect(calls).toBe(1)
    // Once finished, the next call probes again.
    const third = monitor.check(target)
    expect(third).not.toBe(first)
    await vi.advanceTimersByTimeAsync(50)
    await third
    expect(calls).toBe(2)
  })

  it('does not schedule rounds when the interval is 0, and follows setInterval on reload', async () => {
    let calls = 0
    const monitor = new HealthMonitor<Target>({
      intervalMs: 0,
      targets: () => [{ id: 'a' }],
      random: () => 0.5,
      check: async () => {
        calls++
      },
    })
    monitor.start()
    await vi.advanceTimersByTimeAsync(1_000_000)
    expect(calls).toBe(0)
    monitor.setInterval(1000)
    await vi.advanceTimersByTimeAsync(1000)
    expect(calls).toBe(1)
    monitor.stop()
  })
})
