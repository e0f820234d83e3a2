import { afterEach, describe, expect, it, vi } from 'vitest'
import { InputBufferPool, POOLED_MIN_BYTES } from '../../src/kserve/input-buffer-pool.js'

describe('InputBufferPool', () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  it('gives a buffer handed back to the next take of the same size, and a fresh one otherwise', () => {
    const pool = new InputBufferPool()
    const size = POOLED_MIN_BYTES * 2
    const first = pool.take(size)
    expect(first.byteLength).toBe(size)
    pool.give(first)
    expect(pool.heldBytes).toBe(size)
    const other = pool.take(size + 4)
    expect(other).not.toBe(first)
    expect(other.byteLength).toBe(size + 4)
    expect(pool.take(size)).toBe(first)
    expect(pool.heldBytes).toBe(0)
    expect(pool.take(size)).not.toBe(first)
  })

  it('keeps no buffer under the minimum size and no more than maxBytes, and frees one it cannot keep', () => {
    const pool = new InputBufferPool(3 * POOLED_MIN_BYTES)
    pool.give(new ArrayBuffer(POOLED_MIN_BYTES - 1))
    expect(pool.heldBytes).toBe(0)
    const kept = [1, 2, 3].map(() => new ArrayBuffer(POOLED_MIN_BYTES))
    for (const buffer of kept) pool.give(buffer)
    const overflow = new ArrayBuffer(POOLED_MIN_BYTES)
    pool.give(overflow)
    expect(pool.heldBytes).toBe(3 * POOLED_MIN_BYTES)
    // Freed at once (detached), not left for the collector; the kept ones are intact.
    expect(overflow.byteLength).toBe(0)
    expect(kept.map((b) => b.byteLength)).toEqual([1, 2, 3].map(() => POOLED_MIN_BYTES))
  })

  it('lets every buffer go once no body took one for idleMs, and not while bodies keep taking', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })
    const pool = new InputBufferPool(undefined, 1_000)
    const size = POOLED_MIN_BYTES
    pool.give(pool.take(size))
    const idle = new ArrayBuffer(size)
    pool.give(idle)
    vi.advanceTimersByTime(600)
    pool.give(pool.take(size))
    vi.advanceTimersByTime(600)
    expect(pool.heldBytes).toBe(2 * size)
    vi.advanceTimersByTime(500)
    expect(pool.heldBytes).toBe(0)
    expect(idle.byteLength).toBe(0)
    const kept = new ArrayBuffer(size)
    pool.give(kept)
    expect(pool.take(size)).toBe(kept)
  })

  it('clear() frees every kept buffer, as the idle release does', () => {
    const pool = new InputBufferPool()
    const kept = new ArrayBuffer(POOLED_MIN_BYTES)
    pool.give(kept)
    pool.clear()
    expect(pool.heldBytes).toBe(0)
    expect(kept.byteLength).toBe(0)
    expect(pool.take(POOLED_MIN_BYTES).byteLength).toBe(POOLED_MIN_BYTES)
  })
})
