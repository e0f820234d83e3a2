import { InferRequestSchema } from '@npu-fleet/protocol'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { plainInferRequest, structureJsonRequest } from '../../src/kserve/json-request.js'

// plainInferRequest is a shortcut past the protocol schema: wherever it answers, the schema must agree, value
// for value; everywhere else the schema decides.

/** Valid requests in the common form, each then often put off by one field, key or type. */
const validInput = fc.record({
  name: fc.constantFrom('x', 'input'),
  shape: fc.array(fc.nat(1000), { maxLength: 4 }),
  datatype: fc.constantFrom('FP32', 'INT64', 'BYTES', 'BOOL'),
  data: fc.array(fc.float(), { maxLength: 3 }),
})
const inputChange = fc.constantFrom<Array<[string, unknown]>>(
  [],
  [],
  [],
  [],
  [['data', undefined]],
  [['name', '']],
  [['name', 3]],
  [['shape', [1, -1]]],
  [['shape', [1.5]]],
  [['shape', [2 ** 53]]],
  [['shape', ['1']]],
  [['shape', '1x2']],
  [['datatype', 'fp32']],
  [['datatype', 3]],
  [['data', {}]],
  [['data', '1,2']],
  [['parameters', {}]],
  [['parameters', { binary_data_size: 8 }]],
  [['extra', 1]],
)
const input = fc.tuple(validInput, inputChange).map(([valid, change]) => {
  const value: Record<string, unknown> = { ...valid }
  for (const [key, v] of change) {
    if (v === undefined) delete value[key]
    else value[key] = v
  }
  return value
})
const request = fc
  .tuple(
    fc.array(input, { minLength: 1, maxLength: 3 }),
    fc.option(fc.string({ maxLength: 4 }), { nil: undefined }),
    fc.constantFrom<Array<[string, unknown]>>(
      [],
      [],
      [],
      [['id', 7]],
      [['inputs', []]],
      [['inputs', null]],
      [['inputs', { name: 'x' }]],
      [['parameters', { timeout: 5 }]],
      [['outputs', [{ name: 'y' }]]],
      [['extra', true]],
    ),
  )
  .map(([inputs, id, change]) => {
    const value: Record<string, unknown> = id === undefined ? { inputs } : { id, inputs }
    for (const [key, v] of change) value[key] = v
    return value
  })

describe('plainInferRequest', () => {
  it('answers only where the schema accepts, and then exactly what the schema answers', () => {
    let taken = 0
    fc.assert(
      fc.property(request, (json) => {
        const plain = plainInferRequest(structuredClone(json))
        const parsed = InferRequestSchema.safeParse(structuredClone(json))
        if (plain === null) return
        taken++
        expect(parsed.success).toBe(true)
        expect(plain).toStrictEqual(parsed.data)
      }),
      { numRuns: 2000 },
    )
    // The generator must reach the shortcut, or the property above says nothing.
    expect(taken).toBeGreaterThan(20)
  })

  it('takes the common request and leaves anything with parameters, outputs or extra keys to the schema', () => {
    const x = { name: 'x', datatype: 'FP32', shape: [1, 2], data: [1, 2] }
    expect(plainInferRequest({ id: 'a', inputs: [x] })).not.toBeNull()
    expect(plainInferRequest({ inputs: [x], parameters: {} })).toBeNull()
    expect(plainInferRequest({ inputs: [x], outputs: [{ name: 'y' }] })).toBeNull()
    expect(plainInferRequest({ inputs: [{ ...x, extra: 1 }] })).toBeNull()
    expect(plainInferRequest({ inputs: [] })).toBeNull()
  })

  it('leaves the schema its error messages', () => {
    expect(() =>
      structureJsonRequest({ inputs: [{ name: 'x', datatype: 'FP33', shape: [1] }] }, null),
    ).toThrow(/inputs\[0\]\.datatype|inputs\.0\.datatype/)
  })
})
