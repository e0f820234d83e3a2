import { describe, expect, it } from 'vitest'
import { type WaitEntry, WaitQueue } from '../../src/wait/wait-queue.js'

const entry = (key: string, seq: number): WaitEntry & { id: string } => ({
  id: `${key}${seq}`,
  key,
  seq,
  prev: null,
  next: null,
  list: null,
})
const ids = (q: WaitQueue) =>
  q.lists().map((l) => {
    const out: string[] = []
    for (let e = l.head as (WaitEntry & { id: string }) | null; e; e = e.next as typeof e) out.push(e.id)
    return out
  })

describe('WaitQueue', () => {
  it('keeps FIFO order per key, pushes retries to the front, removes from the middle in O(1)', () => {
    const q = new WaitQueue()
    const [a1, a2, a3] = [entry('a', 1), entry('a', 2), entry('a', 3)]
    q.push(a1)
    q.push(a2)
    q.push(a3)
    expect(ids(q)).toEqual([['a1', 'a2', 'a3']])
    expect(q.remove(a2)).toBe(true)
    expect(q.remove(a2)).toBe(false)
    expect(ids(q)).toEqual([['a1', 'a3']])
    const retry = entry('a', 0)
    q.push(retry, true)
    expect(ids(q)).toEqual([['a0', 'a1', 'a3']])
    expect(q.size).toBe(3)
    q.remove(retry)
    q.remove(a3)
    q.remove(a1)
    expect(q.size).toBe(0)
    expect(q.lists()).toEqual([])
  })

  it('orders lists by their oldest head, and bounds the total size across keys', () => {
    const q = new WaitQueue()
    q.push(entry('b', 5))
    q.push(entry('a', 7))
    q.push(entry('c', 2))
    expect(q.lists().map((l) => l.key)).toEqual(['c', 'b', 'a'])
    expect(q.size).toBe(3)
  })
})
