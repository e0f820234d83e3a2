import { describe, expect, it } from 'vitest'
import type { Tensor } from '../../../src/backends/tensor.js'
import { toHalfBits } from '../../../src/kserve/half-float.js'
import { poolSentences } from '../../../src/tasks/embeddings/pooling.js'

/** [rows, sequence, dim] FP32 tensor from nested arrays. */
function fp32(rows: number[][][]): Tensor {
  const sequence = rows[0]?.length ?? 0
  const dim = rows[0]?.[0]?.length ?? 0
  return { datatype: 'FP32', shape: [rows.length, sequence, dim], data: Float32Array.from(rows.flat(2)) }
}

const hidden = fp32([
  [
    [1, 2],
    [3, 4],
    [100, 100], // padding of a 2-token row: must not count
  ],
  [
    [0, 3],
    [4, 0],
    [2, 3],
  ],
  [
    [9, 9], // batch filler row: ignored
    [9, 9],
    [9, 9],
  ],
])

describe('poolSentences', () => {
  it('averages only the real tokens of each row (mean over the attention mask)', () => {
    expect(poolSentences(hidden, [2, 3], 'mean', false)).toEqual([
      [2, 3],
      [2, 2],
    ])
  })

  it('takes the first token with cls pooling', () => {
    expect(poolSentences(hidden, [2, 3], 'cls', false)).toEqual([
      [1, 2],
      [0, 3],
    ])
  })

  it('divides by the L2 norm when normalising', () => {
    const [a, b] = poolSentences(hidden, [2, 1], 'cls', true)
    expect(a?.[0]).toBeCloseTo(1 / Math.sqrt(5), 12)
    expect(a?.[1]).toBeCloseTo(2 / Math.sqrt(5), 12)
    expect(b).toEqual([0, 1])
    // A zero vector stays zero (norm clamped at 1e-12), never NaN.
    expect(poolSentences(fp32([[[0, 0]]]), [1], 'mean', true)).toEqual([[0, 0]])
  })

  it('reads FP16 outputs', () => {
    const half: Tensor = {
      datatype: 'FP16',
      shape: [1, 2, 2],
      data: Uint16Array.from([0.5, 1.5, 1, -2].map(toHalfBits)),
    }
    expect(poolSentences(half, [2], 'mean', false)).toEqual([[0.75, -0.25]])
  })

  it('refuses what it cannot pool instead of inventing numbers', () => {
    expect(() => poolSentences(fp32([[[Number.NaN, 1]]]), [1], 'mean', false)).toThrow(
      /row 0 pooled to a non-finite value/,
    )
    expect(() =>
      poolSentences({ datatype: 'FP32', shape: [1, 4], data: new Float32Array(4) }, [1], 'mean', false),
    ).toThrow(/output has shape \[1,4\]; \[batch, sequence, hidden\] is expected/)
    expect(() => poolSentences(hidden, [2, 3, 3, 1], 'mean', false)).toThrow(/output has 3 rows for 4 texts/)
    expect(() => poolSentences(hidden, [4], 'mean', false)).toThrow(
      /row 0 has 4 tokens; the output has 3 positions/,
    )
    expect(() =>
      poolSentences({ datatype: 'INT64', shape: [1, 1, 1], data: new BigInt64Array(1) }, [1], 'mean', false),
    ).toThrow(/output is INT64/)
  })
})
