import { describe, expect, it } from 'vitest'
import type { TensorInfo } from '../../../src/backends/backend.js'
import { buildEncoderBatch, encoderInputProblem } from '../../../src/tasks/embeddings/encoder-batch.js'

const bert: TensorInfo[] = [
  { name: 'input_ids', datatype: 'INT64', shape: [-1, -1] },
  { name: 'attention_mask', datatype: 'INT64', shape: [-1, -1] },
  { name: 'token_type_ids', datatype: 'INT64', shape: [-1, -1] },
]

describe('buildEncoderBatch', () => {
  it('pads ids, masks padding and fills one segment, as int64', () => {
    const batch = buildEncoderBatch(
      [
        [2, 10, 3],
        [2, 3],
      ],
      4,
      0,
      bert,
    )
    expect(Object.keys(batch)).toEqual(['input_ids', 'attention_mask', 'token_type_ids'])
    expect(batch.input_ids).toEqual({
      datatype: 'INT64',
      shape: [2, 4],
      data: BigInt64Array.from([2n, 10n, 3n, 0n, 2n, 3n, 0n, 0n]),
    })
    expect(batch.attention_mask?.data).toEqual(BigInt64Array.from([1n, 1n, 1n, 0n, 1n, 1n, 0n, 0n]))
    expect(batch.token_type_ids?.data).toEqual(new BigInt64Array(8))
  })

  it('builds only the declared inputs, in their integer type, with position ids when asked', () => {
    const batch = buildEncoderBatch([[5, 6]], 3, 1, [
      { name: 'input_ids', datatype: 'INT32', shape: [-1, -1] },
      { name: 'position_ids', datatype: 'INT32', shape: [-1, -1] },
    ])
    expect(batch).toEqual({
      input_ids: { datatype: 'INT32', shape: [1, 3], data: Int32Array.from([5, 6, 1]) },
      position_ids: { datatype: 'INT32', shape: [1, 3], data: Int32Array.from([0, 1, 2]) },
    })
  })
})

describe('encoderInputProblem', () => {
  it('accepts BERT inputs and says what is wrong with others', () => {
    expect(encoderInputProblem(bert)).toBeNull()
    expect(encoderInputProblem([{ name: 'x', datatype: 'FP32', shape: [-1, 3] }])).toBe(
      'it has no input "input_ids" (inputs: x)',
    )
    expect(encoderInputProblem([...bert, { name: 'pixel_values', datatype: 'FP32', shape: [-1, 3] }])).toBe(
      'input "pixel_values" is not one the pipeline fills (input_ids, attention_mask, token_type_ids, position_ids)',
    )
    expect(encoderInputProblem([{ name: 'input_ids', datatype: 'FP32', shape: [-1, -1] }])).toBe(
      'input "input_ids" is FP32; INT64 or INT32 expected',
    )
    expect(encoderInputProblem([{ name: 'input_ids', datatype: 'INT64', shape: [-1] }])).toBe(
      'input "input_ids" has shape [-1]; [batch, sequence] expected',
    )
  })
})
