import { describe, expect, it } from 'vitest'
import { LatencyBook } from '../../src/selection/latency-book.js'
import { PeakEwma } from '../../src/selection/peak-ewma.js'
import { SlowStart } from '../../src/selection/slow-start.js'
import { TaskSlots } from '../../src/selection/task-slots.js'

describe('PeakEwma', () => {
  it('has no estimate before a sample, takes a slower sample at once, and a faster one by the time since', () => {
    const e = new PeakEwma(10_000)
    expect(e.estimate(0)).toBe(0)
    e.observe(4, 1000)
    expect(e.estimate(1000)).toBe(4)
    e.observe(40, 1000)
    expect(e.estimate(1000)).toBe(40)
    // A faster sample in the same millisecond changes nothing (weight of the old estimate 1).
    e.observe(1, 1000)
    expect(e.estimate(1000)).toBe(40)
    // One decay time later: 40/e + 1 × (1 − 1/e).
    e.observe(1, 11_000)
    expect(e.estimate(11_000)).toBeCloseTo(40 / Math.E + (1 - 1 / Math.E), 9)
  })

  it('decays toward zero without samples, so a slow worker is tried again', () => {
    const e = new PeakEwma(1000)
    e.observe(100, 0)
    expect(e.estimate(1000)).toBeCloseTo(100 / Math.E, 9)
    expect(e.estimate(10_000)).toBeLessThan(0.01)
  })

  it('at least doubles on a failure however fast it was, and only rises for a deadline', () => {
    const e = new PeakEwma(10_000)
    e.penalize(0.1, 0)
    expect(e.estimate(0)).toBe(1)
    e.observe(5, 0)
    e.penalize(0.2, 0)
    expect(e.estimate(0)).toBe(10)
    e.penalize(50, 0)
    expect(e.estimate(0)).toBe(50)
    e.atLeast(20, 0)
    expect(e.estimate(0)).toBe(50)
    e.atLeast(80, 0)
    expect(e.estimate(0)).toBe(80)
  })
})

describe('SlowStart', () => {
  it('ramps linearly from 10% over the window, then is done; 0 means none', () => {
    const s = new SlowStart()
    expect(s.factor(0)).toBe(1)
    s.begin(1000, 10_000)
    expect(s.factor(1000)).toBe(0.1)
    expect(s.factor(6000)).toBe(0.5)
    expect(s.factor(11_000)).toBe(1)
    expect(s.factor(2000)).toBe(1)
    s.begin(0, 0)
    expect(s.factor(0)).toBe(1)
  })
})

describe('LatencyBook', () => {
  const mlp = { kind: 'model' as const, name: 'mlp', index: 0 }
  const det = { kind: 'model' as const, name: 'ppocr-det', index: 1 }
  const unindexed = { kind: 'task' as const, name: 'rare', index: -1 }

  it('keeps one estimate per need, and one over all that needs without an index share', () => {
    const book = new LatencyBook(10_000)
    expect([book.estimate(mlp, 0), book.estimate(det, 0), book.overall(0)]).toEqual([0, 0, 0])
    book.observe(det, 40, 0)
    book.observe(mlp, 1, 0)
    expect([book.estimate(mlp, 0), book.estimate(det, 0)]).toEqual([1, 40])
    // The overall estimate saw the peak of both.
    expect(book.overall(0)).toBe(40)
    expect(book.estimate(unindexed, 0)).toBe(40)
    book.penalize(mlp, 0.1, 0)
    expect(book.estimate(mlp, 0)).toBe(2)
  })
})

describe('TaskSlots', () => {
  it('counts what is in flight and the work it is expected to take; an empty worker has none', () => {
    const slots = new TaskSlots(4)
    slots.take(2.5)
    slots.take(0)
    slots.take(0.1)
    expect([slots.activeTasks, slots.pendingMs, slots.coldInFlight]).toEqual([3, 2.6, 1])
    slots.give(0)
    slots.give(2.5)
    slots.give(0.1)
    expect([slots.activeTasks, slots.pendingMs, slots.coldInFlight]).toEqual([0, 0, 0])
    expect(slots.backOff(100)).toBe(true)
    expect(slots.backOff(50)).toBe(false)
    expect(slots.backoffUntil).toBe(100)
  })
})
