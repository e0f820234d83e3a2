import { describe, expect, it } from 'vitest'
import { EventOutbox } from '../../src/generation/event-outbox.js'
import type { SequenceEvent } from '../../src/generation/generation-thread-protocol.js'

/** An outbox on a clock the test moves, recording what it posts. */
function outbox(intervalMs = 4) {
  const clock = { now: 0 }
  const posts: SequenceEvent[][] = []
  const box = new EventOutbox(
    (events) => posts.push(events),
    intervalMs,
    () => clock.now,
  )
  return { box, clock, posts }
}

const chunk = (id: number, text: string, generated: number): SequenceEvent => ({
  id,
  kind: 'chunk',
  text,
  generated,
})
const done = (id: number): SequenceEvent => ({
  id,
  kind: 'done',
  finishReason: 'stop',
  usage: { prompt_tokens: 3, completion_tokens: 2 },
})

describe('EventOutbox', () => {
  it('posts a refused start at once', () => {
    const { box, posts } = outbox()
    const refused: SequenceEvent = {
      id: 2,
      kind: 'error',
      code: 'context_length_exceeded',
      message: 'messages: too long',
      field: 'messages',
    }
    box.add([refused], 0)
    expect(posts).toEqual([[refused]])
  })

  it("posts a sequence's first text at once, and holds later text of fast steps until the interval", () => {
    const { box, clock, posts } = outbox()
    box.add([{ id: 1, kind: 'started', promptTokens: 3 }], 0)
    expect(posts).toHaveLength(0)
    clock.now = 0.5
    box.add([chunk(1, 'a', 1)], 0.5)
    expect(posts).toEqual([[{ id: 1, kind: 'started', promptTokens: 3 }, chunk(1, 'a', 1)]])
    clock.now = 1
    box.add([chunk(1, 'b', 2)], 0.5)
    clock.now = 1.5
    box.add([chunk(1, 'c', 3)], 0.5)
    expect(posts).toHaveLength(1)
    expect(box.holding).toBe(true)
    // The next step would end past 4 ms since the last post: what is held goes now.
    clock.now = 4
    box.add([chunk(1, 'd', 4)], 0.5)
    expect(posts[1]).toEqual([chunk(1, 'b', 2), chunk(1, 'c', 3), chunk(1, 'd', 4)])
    expect(box.holding).toBe(false)
  })

  it('posts an end at once, with the text held before it, in order', () => {
    const { box, clock, posts } = outbox()
    box.add([chunk(1, 'a', 1), chunk(2, 'x', 1)], 0.2)
    clock.now = 0.4
    box.add([chunk(1, 'b', 2), chunk(2, 'y', 2)], 0.2)
    clock.now = 0.6
    box.add([chunk(1, 'c', 3), done(1)], 0.2)
    expect(posts).toEqual([
      [chunk(1, 'a', 1), chunk(2, 'x', 1)],
      [chunk(1, 'b', 2), chunk(2, 'y', 2), chunk(1, 'c', 3), done(1)],
    ])
  })

  it('posts after every step when steps are slower than the interval (a real model)', () => {
    const { box, clock, posts } = outbox()
    box.add([chunk(1, 'a', 1)], 30)
    for (let i = 2; i <= 4; i++) {
      clock.now += 30
      box.add([chunk(1, String(i), i)], 30)
    }
    expect(posts).toHaveLength(4)
  })

  it('posts (empty) at least every interval while steps produce nothing, so the watchdog sees progress', () => {
    const { box, clock, posts } = outbox()
    clock.now = 1
    box.add([], 1)
    expect(posts).toHaveLength(0)
    clock.now = 3
    box.add([], 1)
    expect(posts).toEqual([[]])
  })

  it('treats a sequence that started again under the same id as new (its first text goes at once)', () => {
    const { box, clock, posts } = outbox()
    box.add([chunk(1, 'a', 1)], 0.1)
    clock.now = 0.2
    box.add([done(1)], 0.1)
    clock.now = 0.3
    box.add([chunk(1, 'z', 1)], 0.1)
    expect(posts).toEqual([[chunk(1, 'a', 1)], [done(1)], [chunk(1, 'z', 1)]])
  })
})
