import { type Datatype, TYPED_ARRAY_OF } from '@npu-fleet/protocol'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { Tensor } from '../../src/backends/tensor.js'
import { type AnswerHeader, answerJson, type ElementOutput } from '../../src/kserve/json-answer.js'
import { jsonElements } from '../../src/kserve/tensor-codec.js'

// The answer's text must stay what JSON.stringify of the answer object wrote before json-answer.ts existed:
// the same keys in the same order, every number printed the same way, NaN and ±Infinity as null.

/** What the worker wrote before: the answer object, stringified. */
function reference(header: AnswerHeader, outputs: readonly ElementOutput[]): string {
  return JSON.stringify({
    model_name: header.model_name,
    model_version: header.model_version,
    ...(header.id !== undefined ? { id: header.id } : {}),
    outputs: outputs.map(({ name, tensor }) => ({
      name,
      datatype: tensor.datatype,
      shape: tensor.shape,
      data: jsonElements(tensor),
    })),
  })
}

const header: AnswerHeader = { model_name: 'm', model_version: '1' }

function float32Tensor(values: readonly number[]): Tensor {
  return { datatype: 'FP32', shape: [1, values.length], data: Float32Array.from(values) }
}

/** Floats a model may answer: zeros of both signs, subnormals, extremes, non-finite, ordinary values. */
const interestingFloat = fc.oneof(
  fc.constantFrom(0, -0, 1, -1, 0.5, 1e-45, -1e-45, 1.1754942e-38, 3.4028235e38, -3.4028235e38),
  fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.float(),
)

describe('answerJson', () => {
  it('writes what JSON.stringify of the answer object wrote, for FP32 outputs of any values', () => {
    fc.assert(
      fc.property(fc.array(interestingFloat, { maxLength: 300 }), (values) => {
        const outputs = [{ name: 'y', tensor: float32Tensor(values) }]
        expect(answerJson(header, outputs)).toBe(reference(header, outputs))
      }),
      { numRuns: 300 },
    )
  })

  it('writes mostly-zero maps larger than a chunk the same way (the joined chunks), with or without outliers', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 4000, max: 20_000 }),
        fc.array(fc.tuple(fc.nat(), interestingFloat), { maxLength: 2000 }),
        (length, placed) => {
          const data = new Float32Array(length)
          for (const [at, value] of placed) data[at % length] = value
          const outputs = [
            { name: 'map', tensor: { datatype: 'FP32', shape: [1, 1, length], data } as Tensor },
          ]
          expect(answerJson(header, outputs)).toBe(reference(header, outputs))
        },
      ),
      { numRuns: 40 },
    )
  })

  it('writes zero runs that meet chunk edges, all-zero chunks and a last chunk of one the same way', () => {
    // Chunks are 4096 elements: nonzeros on both sides of each edge, a chunk of zeros only, -0 in a run.
    const data = new Float32Array(4 * 4096 + 1)
    for (const [at, value] of [
      [0, 0.25],
      [4095, -1.5],
      [4096, 3.4028234663852886e38],
      [8191, 1e-45],
      [8192, -0],
      [12_000, 0.1],
      [16_384, 7],
    ] as const)
      data[at] = value
    const outputs = [{ name: 'map', tensor: { datatype: 'FP32', shape: [data.length], data } as Tensor }]
    expect(answerJson(header, outputs)).toBe(reference(header, outputs))
    const zeros = { datatype: 'FP32', shape: [4097], data: new Float32Array(4097) } as Tensor
    expect(answerJson(header, [{ name: 'z', tensor: zeros }])).toBe(
      reference(header, [{ name: 'z', tensor: zeros }]),
    )
    // The same runs in the other datatypes whose numbers print as they are.
    const others: Tensor[] = [
      { datatype: 'FP64', shape: [data.length], data: Float64Array.from(data, (v) => v / 3) },
      { datatype: 'INT32', shape: [data.length], data: Int32Array.from(data, (v) => Math.trunc(v * 1000)) },
      {
        datatype: 'UINT8',
        shape: [300],
        data: Uint8Array.from({ length: 300 }, (_, i) => (i % 97 === 0 ? 255 : 0)),
      },
    ]
    for (const tensor of others) {
      expect(answerJson(header, [{ name: 'o', tensor }])).toBe(reference(header, [{ name: 'o', tensor }]))
    }
  })

  it('writes a large map of ordinary probabilities the same way (the stringified chunks)', () => {
    const data = Float32Array.from({ length: 3 * 4096 + 17 }, (_, i) => Math.abs(Math.sin(i)) ** 3)
    // A zero region and a dense one, in one tensor: each chunk takes its own way.
    data.fill(0, 0, 5000)
    const outputs = [{ name: 'map', tensor: { datatype: 'FP32', shape: [data.length], data } as Tensor }]
    expect(answerJson(header, outputs)).toBe(reference(header, outputs))
  })

  it.each<Datatype>(['FP64', 'INT8', 'INT16', 'INT32', 'UINT8', 'UINT16', 'UINT32', 'FP16', 'BF16', 'BOOL'])(
    'writes %s outputs as before',
    (datatype) => {
      fc.assert(
        fc.property(fc.array(fc.integer({ min: 0, max: 65535 }), { maxLength: 64 }), (bits) => {
          const Typed = TYPED_ARRAY_OF[datatype as Exclude<Datatype, 'BYTES'>] as unknown as {
            from(values: number[]): Tensor['data']
          }
          // Each datatype's own range of bit patterns (FP16/BF16 include their NaNs and infinities).
          const values = datatype === 'FP64' ? bits.map((b) => (b - 32768) / 7) : bits
          const tensor = { datatype, shape: [values.length], data: Typed.from(values) } as Tensor
          const outputs = [{ name: 'out', tensor }]
          expect(answerJson(header, outputs)).toBe(reference(header, outputs))
        }),
        { numRuns: 50 },
      )
    },
  )

  it('writes INT64, UINT64 and BYTES outputs, several outputs, names and ids needing escapes as before', () => {
    const outputs: ElementOutput[] = [
      {
        name: 'ids "quoted" \\ ✓',
        tensor: {
          datatype: 'INT64',
          shape: [3],
          data: BigInt64Array.from([-(2n ** 63n), 0n, 2n ** 53n + 1n]),
        },
      },
      { name: 'u', tensor: { datatype: 'UINT64', shape: [1], data: BigUint64Array.from([2n ** 64n - 1n]) } },
      { name: 'text', tensor: { datatype: 'BYTES', shape: [2], data: ['héllo\n', '\u2028"'] } },
      { name: 'empty', tensor: { datatype: 'FP32', shape: [0], data: new Float32Array(0) } },
    ]
    for (const h of [header, { ...header, id: 'req\u0000"1"' }, { model_name: 'a/b', model_version: '' }]) {
      expect(answerJson(h, outputs)).toBe(reference(h, outputs))
    }
    expect(answerJson(header, [])).toBe(reference(header, []))
  })
})
