import { describe, expect, it } from 'vitest'
import { appendPositions, BatchedKvCache, type CacheShape } from '../../src/generation/batched-kv-cache.js'

// One cache tensor, 1 head of size 2: easy to read. A sequence's value at position p is [id*100+p, -(id*100+p)].
const shape: CacheShape = { tensors: 1, kvHeads: 1, headDim: 2, allocate: (n) => new Float32Array(n) }
const own = (id: number, length: number) => [
  Float32Array.from({ length: length * 2 }, (_, i) => (i % 2 ? -1 : 1) * (id * 100 + (i >> 1))),
]

/** Row `row` of the cache as positions up to its length T: null where padded. */
function rowOf(cache: BatchedKvCache, row: number): Array<number | null> {
  const data = cache.tensors[0] as Float32Array
  const { length, capacity } = cache
  const valid = cache.validLengths[row] as number
  return Array.from({ length }, (_, p) =>
    p < length - valid ? null : (data[(row * capacity + p) * 2] as number),
  )
}

describe('BatchedKvCache', () => {
  it('left-pads rows to the longest, and re-lays them out when a longer one joins', () => {
    const cache = new BatchedKvCache(shape)
    cache.join(1, own(1, 2), 2)
    cache.join(2, own(2, 4), 4)
    expect(cache.ids).toEqual([1, 2])
    expect(cache.length).toBe(4)
    expect(rowOf(cache, 0)).toEqual([null, null, 100, 101])
    expect(rowOf(cache, 1)).toEqual([200, 201, 202, 203])
    expect(Array.from(cache.nextAttentionMask())).toEqual([0n, 0n, 1n, 1n, 1n, 1n, 1n, 1n, 1n, 1n])
  })

  it('shrinks to the longest remaining row when one leaves', () => {
    const cache = new BatchedKvCache(shape)
    cache.join(1, own(1, 2), 2)
    cache.join(2, own(2, 5), 5)
    cache.join(3, own(3, 3), 3)
    cache.leave(new Set([2]))
    expect(cache.ids).toEqual([1, 3])
    expect(cache.length).toBe(3)
    expect(rowOf(cache, 0)).toEqual([null, 100, 101])
    expect(rowOf(cache, 1)).toEqual([300, 301, 302])
    cache.leave(new Set([1, 3]))
    expect(cache.length).toBe(0)
    expect(cache.ids).toEqual([])
  })

  it("takes a decode step's presents as the cache, one position longer for every row", () => {
    const cache = new BatchedKvCache(shape)
    cache.join(1, own(1, 1), 1)
    cache.join(2, own(2, 2), 2)
    const presents = [Float32Array.from({ length: 2 * 3 * 2 }, (_, i) => i)]
    cache.advance(presents)
    expect(cache.length).toBe(3)
    expect(cache.validLengths).toEqual([2, 3])
    expect(() => cache.advance([new Float32Array(5)])).toThrow(/expected 16/)
  })

  it('appends new positions in place, with the headroom masked, and re-lays out only when it is used up', () => {
    const cache = new BatchedKvCache(shape, 2)
    cache.join(1, own(1, 1), 1)
    cache.join(2, own(2, 2), 2)
    expect([cache.length, cache.capacity]).toEqual([2, 4])
    // [batch, capacity + 1]: padding and the unwritten headroom 0, the new token (last) 1.
    expect(Array.from(cache.nextAttentionMask())).toEqual([0n, 1n, 0n, 0n, 1n, 1n, 1n, 0n, 0n, 1n])
    const tensor = cache.tensors[0]
    // One position per row: [batch 2, heads 1, 1, headDim 2].
    cache.append([Float32Array.of(102, -102, 203, -203)])
    expect(cache.tensors[0]).toBe(tensor)
    expect([cache.length, cache.capacity]).toEqual([3, 4])
    expect(cache.validLengths).toEqual([2, 3])
    expect(rowOf(cache, 0)).toEqual([null, 100, 102])
    expect(rowOf(cache, 1)).toEqual([200, 201, 203])
    expect(Array.from(cache.nextAttentionMask())).toEqual([0n, 1n, 1n, 0n, 1n, 1n, 1n, 1n, 0n, 1n])
    // The last free position: the next step needs room at T, so the cache grows by the headroom again.
    cache.append([Float32Array.of(103, -103, 204, -204)])
    expect([cache.length, cache.capacity]).toEqual([4, 6])
    expect(cache.tensors[0]).not.toBe(tensor)
    expect(rowOf(cache, 0)).toEqual([null, 100, 102, 103])
    expect(rowOf(cache, 1)).toEqual([200, 201, 203, 204])
    cache.leave(new Set([2]))
    expect([cache.length, cache.capacity]).toEqual([3, 5])
    expect(rowOf(cache, 0)).toEqual([100, 102, 103])
    expect(() => cache.append([new Float32Array(3)])).toThrow(/expected 2/)
    expect(() => cache.advance([new Float32Array(8)])).toThrow(/new positions/)
  })

  it('grows a prefilling sequence chunk by chunk from the new positions', () => {
    const two = { ...shape, kvHeads: 2 }
    // Head h, position p: [10h + p, -(10h + p)].
    const positions = (from: number, count: number) =>
      Float32Array.from({ length: 2 * count * 2 }, (_, i) => {
        const h = Math.floor(i / (count * 2))
        const value = 10 * h + from + ((i >> 1) % count)
        return i % 2 ? -value : value
      })
    const first = appendPositions(two, [new Float32Array(0)], 0, [positions(0, 2)], 2)
    const grown = appendPositions(two, first, 2, [positions(2, 3)], 3)
    expect(Array.from(grown[0] as Float32Array)).toEqual(Array.from(positions(0, 5)))
  })
})
