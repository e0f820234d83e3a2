import type { RequestInput } from '@npu-fleet/protocol'
import { describe, expect, it } from 'vitest'
import type { TensorInfo } from '../../src/backends/backend.js'
import type { Tensor } from '../../src/backends/tensor.js'
import { fromBfloat16Bits, toBfloat16Bits } from '../../src/kserve/bfloat16.js'
import { decodeRequest } from '../../src/kserve/decode-request.js'
import { fromHalfBits, toHalfBits } from '../../src/kserve/half-float.js'
import { jsonElements, rawBytes, tensorFromRaw } from '../../src/kserve/tensor-codec.js'

/** The inputs of a JSON request decoded against a model with `model` as its inputs. */
const decodeInputs = (inputs: RequestInput[], model: TensorInfo[]): Record<string, Tensor> =>
  decodeRequest({ kind: 'json', json: { inputs } }, { inputs: model, outputs: [] }).inputs
const encodeOutput = (_name: string, tensor: Tensor) => ({ data: jsonElements(tensor) })

const info = (datatype: TensorInfo['datatype'], shape = [-1, 2]): TensorInfo[] => [
  { name: 'x', datatype, shape },
]
const input = (datatype: RequestInput['datatype'], data: unknown[], shape = [2, 2]): RequestInput => ({
  name: 'x',
  datatype,
  shape,
  data: data as RequestInput['data'],
})

describe('decodeInputs / encodeOutput round trip', () => {
  it.each([
    ['BOOL', [true, false, false, true]],
    ['UINT8', [0, 1, 254, 255]],
    ['UINT16', [0, 1, 65534, 65535]],
    ['UINT32', [0, 1, 4294967294, 4294967295]],
    ['UINT64', [0, 1, 2 ** 40, Number.MAX_SAFE_INTEGER]],
    ['INT8', [-128, -1, 0, 127]],
    ['INT16', [-32768, -1, 0, 32767]],
    ['INT32', [-2147483648, -1, 0, 2147483647]],
    ['INT64', [-(2 ** 53) + 1, -1, 0, 2 ** 53 - 1]],
    ['FP16', [0, -2, 0.5, 65504]],
    ['BF16', [0, -2, 0.5, 3.3895313892515355e38]],
    ['FP32', [0, -1.5, 3.25, 1e-3]],
    ['FP64', [0, -1.5, Math.PI, 1e300]],
    ['BYTES', ['', 'hello', 'naïve ☃', 'x'.repeat(300)]],
  ] as const)('%s keeps every value', (datatype, values) => {
    const tensors = decodeInputs([input(datatype, [...values])], info(datatype))
    const x = tensors.x
    expect(x?.shape).toEqual([2, 2])
    const out = encodeOutput('x', x as NonNullable<typeof x>)
    if (datatype === 'FP32') expect(out.data).toEqual(values.map((v) => Math.fround(v as number)))
    else expect(out.data).toEqual([...values])
  })

  it('accepts nested data matching the shape and INT64 as decimal strings beyond 2^53', () => {
    const t = decodeInputs(
      [
        input('FP32', [
          [1, 2],
          [3, 4],
        ]),
      ],
      info('FP32'),
    ).x
    expect(Array.from(t?.data as Float32Array)).toEqual([1, 2, 3, 4])
    const big = decodeInputs(
      [input('INT64', ['9223372036854775807', '-9223372036854775808', 0, 1])],
      info('INT64'),
    ).x
    expect((big?.data as BigInt64Array | undefined)?.[0]).toBe(9223372036854775807n)
  })
})

describe('decodeInputs errors name the field', () => {
  it.each([
    [
      'element count',
      input('FP32', [1, 2, 3]),
      /inputs\[0\]\.data: expected 4 elements for shape \[2,2\], got 3/,
    ],
    ['nested length', input('FP32', [[1, 2], [3]]), /inputs\[0\]\.data\[1\]: expected 2 elements/],
    [
      'too deep',
      input('FP32', [
        [[1], 2],
        [3, 4],
      ]),
      /inputs\[0\]\.data\[0\]\[0\]: nested deeper/,
    ],
    [
      'integer range',
      input('UINT8', [0, 1, 2, 256]),
      /inputs\[0\]\.data\[3\]: 256 is out of range for UINT8/,
    ],
    ['integer type', input('INT32', [0, 1.5, 2, 3]), /inputs\[0\]\.data\[1\]: expected an integer/],
    ['bool type', input('BOOL', [true, 1, false, true]), /inputs\[0\]\.data\[1\]: expected true or false/],
    ['number type', input('FP32', [1, '2', 3, 4]), /inputs\[0\]\.data\[1\]: expected a number/],
    ['INT64 range', input('INT64', ['9223372036854775808', 0, 0, 0]), /out of range for INT64/],
    [
      'datatype',
      input('FP64', [1, 2, 3, 4]),
      /inputs\[0\]\.datatype: model input "x" expects FP32, got FP64/,
    ],
    ['rank', input('FP32', [1, 2, 3, 4], [4]), /inputs\[0\]\.shape: model input "x" expects rank 2/],
  ])('%s', (_label, bad, message) => {
    expect(() =>
      decodeInputs([bad], info(bad.datatype === 'FP64' ? 'FP32' : (bad.datatype as TensorInfo['datatype']))),
    ).toThrow(message)
  })

  it('rejects fixed-dimension mismatches, unknown, duplicate and missing inputs', () => {
    const fixed: TensorInfo[] = [{ name: 'x', datatype: 'FP32', shape: [-1, 3] }]
    expect(() => decodeInputs([input('FP32', [1, 2, 3, 4])], fixed)).toThrow(
      /inputs\[0\]\.shape\[1\]: model input "x" expects 3, got 2/,
    )
    expect(() => decodeInputs([{ ...input('FP32', [1, 2, 3, 4]), name: 'y' }], info('FP32'))).toThrow(
      /unknown input "y"/,
    )
    const two = input('FP32', [1, 2, 3, 4])
    expect(() => decodeInputs([two, two], info('FP32'))).toThrow(/inputs\[1\]\.name: input "x" given twice/)
    const both: TensorInfo[] = [...info('FP32'), { name: 'z', datatype: 'FP32', shape: [1] }]
    expect(() => decodeInputs([two], both)).toThrow(/model input "z" is missing/)
  })

  it('carries the NPU_ERR_BAD_INFER_REQUEST code and a 400 status', () => {
    try {
      decodeInputs([input('FP32', [1])], info('FP32'))
      expect.unreachable()
    } catch (error) {
      expect(error).toMatchObject({ code: 'NPU_ERR_BAD_INFER_REQUEST', statusCode: 400 })
    }
  })
})

describe('BYTES tensors', () => {
  it('read length-prefixed elements from raw bytes, and write them back the same', () => {
    const tensor = decodeInputs([input('BYTES', ['a', '', 'ünï', 'z'])], info('BYTES')).x as Tensor
    const raw = rawBytes(tensor)
    expect([...raw.subarray(0, 5)]).toEqual([1, 0, 0, 0, 97])
    expect(tensorFromRaw(raw, 'BYTES', [2, 2], false, 'raw').data).toEqual(['a', '', 'ünï', 'z'])
  })

  it('refuse elements that are not strings, frames that do not add up, and bytes that are not UTF-8', () => {
    expect(() => decodeInputs([input('BYTES', ['a', 1, 'b', 'c'])], info('BYTES'))).toThrow(
      /inputs\[0\]\.data\[1\]: expected a string, got 1/,
    )
    const three = rawBytes({ datatype: 'BYTES', shape: [3], data: ['a', 'b', 'c'] })
    expect(() => tensorFromRaw(three, 'BYTES', [2, 2], false, 'raw_input_contents[0]')).toThrow(
      /raw_input_contents\[0\]: BYTES shape \[2,2\]: expected 4 length-prefixed elements, got 3/,
    )
    expect(() => decodeInputs([input('BYTES', ['a', 'b\u0000c', 'd', 'e'])], info('BYTES'))).toThrow(
      /inputs\[0\]\.data\[1\]: BYTES element holds a NUL character/,
    )
    const latin1 = new Uint8Array([1, 0, 0, 0, 0xe9])
    expect(() => tensorFromRaw(latin1, 'BYTES', [1], false, 'raw')).toThrow(
      /raw\[0\]: BYTES element is not valid UTF-8/,
    )
  })
})

describe('bfloat16', () => {
  it('rounds to nearest even and round-trips every finite bfloat16 exactly', () => {
    for (let bits = 0; bits < 0x7f80; bits++) {
      expect(toBfloat16Bits(fromBfloat16Bits(bits))).toBe(bits)
      expect(toBfloat16Bits(-fromBfloat16Bits(bits))).toBe(bits | 0x8000)
    }
    expect(toBfloat16Bits(1 + 2 ** -8)).toBe(0x3f80) // tie -> even (1.0)
    expect(toBfloat16Bits(1 + 3 * 2 ** -8)).toBe(0x3f82) // tie -> even (1 + 2^-6)
    expect(toBfloat16Bits(3.4e38)).toBe(0x7f80) // past the largest bfloat16: infinity
    expect(fromBfloat16Bits(toBfloat16Bits(Number.NaN))).toBeNaN()
  })
})

describe('half floats', () => {
  it('rounds to nearest even and round-trips every finite half exactly', () => {
    for (let bits = 0; bits < 0x7c00; bits++) {
      expect(toHalfBits(fromHalfBits(bits))).toBe(bits)
      expect(toHalfBits(-fromHalfBits(bits))).toBe(bits | 0x8000)
    }
    expect(toHalfBits(1 + 2 ** -11)).toBe(0x3c00) // tie -> even (1.0)
    expect(toHalfBits(1 + 3 * 2 ** -11)).toBe(0x3c02) // tie -> even (1 + 2^-9)
    expect(toHalfBits(1e6)).toBe(0x7c00)
    expect(fromHalfBits(toHalfBits(Number.NaN))).toBeNaN()
  })
})

describe('dimensions no runtime should see', () => {
  it('refuses a zero-sized dimension with the field named, even where the model takes any size', () => {
    expect(() => decodeInputs([input('FP32', [], [1, 0])], info('FP32', [-1, -1]))).toThrow(
      expect.objectContaining({
        code: 'NPU_ERR_BAD_INFER_REQUEST',
        message: 'inputs[0].shape[1]: dimensions must be at least 1, got 0',
      }),
    )
  })

  it("refuses a dimension outside the model's bounded range, and takes one inside it", () => {
    const bounded: TensorInfo[] = [{ name: 'x', datatype: 'FP32', shape: [-1, 2], bounds: [[1, 8], null] }]
    expect(() => decodeInputs([input('FP32', Array(18).fill(0), [9, 2])], bounded)).toThrow(
      expect.objectContaining({ message: 'inputs[0].shape[0]: model input "x" takes 1..8 here, got 9' }),
    )
    expect(decodeInputs([input('FP32', Array(16).fill(0), [8, 2])], bounded).x?.shape).toEqual([8, 2])
    // An upper end below 0 is OpenVINO's "no upper bound".
    const open: TensorInfo[] = [{ name: 'x', datatype: 'FP32', shape: [-1, 2], bounds: [[2, -1], null] }]
    expect(() => decodeInputs([input('FP32', [0, 0], [1, 2])], open)).toThrow(/takes 2\.\. here, got 1/)
    expect(decodeInputs([input('FP32', Array(40).fill(0), [20, 2])], open).x?.shape).toEqual([20, 2])
  })
})
