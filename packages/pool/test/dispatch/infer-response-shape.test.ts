import { DatatypeSchema, InferResponseSchema } from '@npu-fleet/protocol'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { isInferResponse } from '../../src/dispatch/infer-response-shape.js'
import { validateInfer } from '../../src/dispatch/response-validators.js'

// The hand-written infer response check against the protocol schema it copies: the same verdict on responses
// that are valid, nearly valid (one field off) and arbitrary JSON, all as JSON.parse would give them.
const anything = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.constantFrom(0, -0, -1, 1.5, 2 ** 53, Number.MAX_SAFE_INTEGER, 1e300),
  fc.integer(),
  fc.double(),
  fc.string({ maxLength: 4 }),
  fc.constantFrom('FP32', 'fp32', 'BYTES', 'mlp'),
  fc.constant([]),
  fc.constant({}),
  fc.jsonValue({ maxDepth: 2 }),
)
/** A valid value most of the time, else anything at all. */
const mostly = <T>(valid: fc.Arbitrary<T>) =>
  fc.oneof({ weight: 6, arbitrary: valid }, { weight: 1, arbitrary: anything })
const parameters = fc.dictionary(
  fc.oneof(fc.string({ maxLength: 4 }), fc.constantFrom('__proto__', 'binary_data_size', '1')),
  mostly(
    fc.oneof(
      fc.string(),
      fc.double({ noDefaultInfinity: true, noNaN: true }),
      fc.boolean(),
      fc.constant(null),
    ),
  ),
  { maxKeys: 3 },
)
const output = fc.record(
  {
    name: mostly(fc.string()),
    shape: mostly(fc.array(mostly(fc.nat()), { maxLength: 3 })),
    datatype: mostly(fc.constantFrom(...DatatypeSchema.options)),
    parameters: mostly(parameters),
    data: mostly(
      fc.array(fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean()), { maxLength: 4 }),
    ),
    extra: anything,
  },
  { requiredKeys: ['name', 'shape', 'datatype'] },
)
const response = fc
  .record(
    {
      model_name: mostly(fc.string()),
      model_version: mostly(fc.string()),
      id: mostly(fc.string()),
      parameters: mostly(parameters),
      outputs: mostly(fc.array(mostly(output), { maxLength: 3 })),
      extra: anything,
    },
    { requiredKeys: ['model_name', 'outputs'] },
  )
  .map((value) => JSON.parse(JSON.stringify(value)))

const schemaSays = (body: unknown) => InferResponseSchema.safeParse(body).success

describe('isInferResponse (the hand-written InferResponseSchema)', () => {
  it('gives the schema’s verdict on valid, nearly valid and arbitrary responses', () => {
    fc.assert(
      fc.property(fc.oneof(response, fc.jsonValue({ maxDepth: 4 })), (body) => {
        expect(isInferResponse(body)).toBe(schemaSays(body))
      }),
      { numRuns: 20_000 },
    )
  })

  it('accepts a worker’s answer and turns down what the schema turns down', () => {
    const answer = {
      model_name: 'mlp',
      model_version: '1',
      outputs: [{ name: 'output', datatype: 'FP32', shape: [1, 2], data: [0.5, -0.25] }],
    }
    expect(isInferResponse(answer)).toBe(true)
    const broken: unknown[] = [
      null,
      [],
      { outputs: [] },
      { model_name: 'mlp' },
      { model_name: 'mlp', outputs: {} },
      { model_name: 'mlp', model_version: 1, outputs: [] },
      { model_name: 'mlp', outputs: [{ name: 'o', datatype: 'FP33', shape: [1] }] },
      { model_name: 'mlp', outputs: [{ name: 'o', datatype: 'FP32', shape: [-1] }] },
      { model_name: 'mlp', outputs: [{ name: 'o', datatype: 'FP32', shape: [1.5] }] },
      { model_name: 'mlp', outputs: [{ name: 'o', datatype: 'FP32', shape: [1], data: {} }] },
      { model_name: 'mlp', parameters: { a: [] }, outputs: [] },
      { model_name: 'mlp', outputs: [{ name: 'o', datatype: 'FP32', shape: [1], parameters: { a: {} } }] },
    ]
    for (const body of broken) {
      expect(schemaSays(body)).toBe(false)
      expect(isInferResponse(body)).toBe(false)
      expect(validateInfer(body)).toBeNull()
    }
    expect(validateInfer(answer)).toBe(answer)
  })
})
