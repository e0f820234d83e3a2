import { afterEach, describe, expect, it, vi } from 'vitest'
import { LingerQueue } from '../../src/http/lingering-close.js'

// The queue's own rules, with entries that record what the queue did to them; the sockets behind real
// entries are tested in lingering-close.test.ts.

afterEach(() => {
  vi.useRealTimers()
})

function entries(queue: LingerQueue, count: number) {
  const log: string[] = []
  for (let i = 0; i < count; i++)
    queue.enqueue({
      state: 'waiting',
      since: Date.now(),
      start: () => log.push(`start ${i}`),
      drop: () => log.push(`drop ${i}`),
    })
  return log
}

describe('LingerQueue', () => {
  it('lets four connections drain at once and starts the next in arrival order as each finishes', () => {
    const queue = new LingerQueue({ maxBytes: 1, timeoutMs: 1_000 })
    const log = entries(queue, 6)
    expect(log).toEqual(['start 0', 'start 1', 'start 2', 'start 3'])
    expect(queue.sizes).toEqual({ draining: 4, waiting: 2 })
    queue.finished()
    expect(log.at(-1)).toBe('start 4')
    queue.finished()
    queue.finished()
    expect(log.at(-1)).toBe('start 5')
    expect(queue.sizes).toEqual({ draining: 3, waiting: 0 })
  })

  it('drops, unread, a connection that waited past the time limit, and gives its turn to the next', () => {
    vi.useFakeTimers()
    const queue = new LingerQueue({ maxBytes: 1, timeoutMs: 1_000 })
    const log = entries(queue, 5)
    vi.advanceTimersByTime(600)
    const later = entries(queue, 1)
    vi.advanceTimersByTime(400)
    queue.finished()
    // Entry 4 waited 1000 ms: dropped; the one queued 400 ms ago starts in its place.
    expect(log).toEqual(['start 0', 'start 1', 'start 2', 'start 3', 'drop 4'])
    expect(later).toEqual(['start 0'])
    expect(queue.sizes).toEqual({ draining: 4, waiting: 0 })
  })
})
