import { describe, expect, it } from 'vitest'
import type { TensorInfo } from '../../src/backends/backend.js'
import { decodeRequest } from '../../src/kserve/decode-request.js'
import { encodeResponse } from '../../src/kserve/encode-response.js'
import type { InferBody } from '../../src/kserve/infer-body.js'

// decodeRequest: one decoder for every form a request arrives in, and the protocol rules around the tensors
// (parameters, outputs and their form, media types).

const model: { inputs: TensorInfo[]; outputs: TensorInfo[] } = {
  inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 2] }],
  outputs: [
    { name: 'a', datatype: 'FP32', shape: [-1, 2] },
    { name: 'b', datatype: 'INT64', shape: [-1] },
  ],
}
const x = { name: 'x', datatype: 'FP32', shape: [1, 2], data: [1, 2] }
const json = (body: Record<string, unknown>): InferBody => ({ kind: 'json', json: { inputs: [x], ...body } })

describe('decodeRequest: the body forms', () => {
  it('decodes JSON, the binary extension and a pre-decoded request to the same tensors', () => {
    const fromJson = decodeRequest(json({}), model).inputs.x
    const bytes = new Uint8Array(Float32Array.of(1, 2).buffer)
    const fromBinary = decodeRequest(
      {
        kind: 'binary',
        json: { inputs: [{ ...x, data: undefined, parameters: { binary_data_size: 8 } }] },
        tensors: bytes,
        owned: true,
      },
      model,
    ).inputs.x
    const fromDecoded = decodeRequest(
      {
        kind: 'decoded',
        request: {
          id: undefined,
          parameters: {},
          inputs: [
            {
              name: 'x',
              datatype: 'FP32',
              shape: [1, 2],
              parameters: {},
              contents: { kind: 'raw', bytes, owned: false, field: 'raw_input_contents[0]' },
            },
          ],
          outputs: undefined,
        },
      },
      model,
    ).inputs.x
    for (const t of [fromBinary, fromDecoded]) expect(t).toEqual(fromJson)
    // Owned, aligned bytes are viewed in place; others are copied.
    expect((fromBinary?.data as Float32Array | undefined)?.buffer).toBe(bytes.buffer)
    expect((fromDecoded?.data as Float32Array | undefined)?.buffer).not.toBe(bytes.buffer)
  })

  it('refuses another media type with 415 (once the model is known), a non-object with 400', () => {
    expect(() => decodeRequest({ kind: 'unsupported', contentType: 'text/plain' }, model)).toThrow(
      expect.objectContaining({ code: 'NPU_ERR_UNSUPPORTED_MEDIA_TYPE', statusCode: 415 }),
    )
    for (const body of [undefined, null, [], 3, 'x']) {
      expect(() => decodeRequest({ kind: 'json', json: body }, model)).toThrow(
        expect.objectContaining({ code: 'NPU_ERR_MALFORMED_BODY' }),
      )
    }
    expect(() => decodeRequest({ kind: 'json', json: { inputs: 'x' } }, model)).toThrow(
      expect.objectContaining({
        code: 'NPU_ERR_BAD_INFER_REQUEST',
        message: expect.stringMatching(/^inputs: /),
      }),
    )
  })
})

describe('decodeRequest: parameters', () => {
  it('reads timeout and binary_data_output, and passes every other parameter through', () => {
    const decoded = decodeRequest(
      json({
        parameters: { timeout: 250, binary_data_output: true, temperature: 0.2, tag: 'a', flag: false },
      }),
      model,
    )
    expect(decoded.timeoutMs).toBe(250)
    expect(decoded.parameters).toEqual({ temperature: 0.2, tag: 'a', flag: false })
    expect(decoded.outputs).toEqual([
      { name: 'a', raw: true },
      { name: 'b', raw: true },
    ])
  })

  it('refuses a malformed known parameter, and the ones Triton reserves for features not served here', () => {
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ timeout: 0 }, /parameters\.timeout: expected a number of milliseconds, at least 1, got 0/],
      [{ timeout: 'soon' }, /parameters\.timeout: expected a number/],
      [{ binary_data_output: 'yes' }, /parameters\.binary_data_output: expected true or false/],
      [{ sequence_id: 3 }, /parameters\.sequence_id: reserved for the sequence extension/],
      [{ sequence_start: true }, /parameters\.sequence_start: reserved/],
      [{ priority: 1 }, /parameters\.priority: reserved for the schedule policy extension/],
      [{ headers: 'x' }, /parameters\.headers: reserved/],
      [
        { triton_enable_empty_final_response: true },
        /parameters\.triton_enable_empty_final_response: reserved for Triton's own use/,
      ],
    ]
    for (const [parameters, message] of cases) {
      expect(() => decodeRequest(json({ parameters }), model), String(message)).toThrow(
        expect.objectContaining({
          code: 'NPU_ERR_BAD_INFER_REQUEST',
          message: expect.stringMatching(message),
        }),
      )
    }
  })
})

describe('decodeRequest: outputs', () => {
  it('answers every output in model order by default, or the ones asked for, in the order asked', () => {
    expect(decodeRequest(json({}), model)).toMatchObject({
      outputNames: undefined,
      outputs: [
        { name: 'a', raw: false },
        { name: 'b', raw: false },
      ],
    })
    expect(decodeRequest(json({ outputs: [{ name: 'b' }, { name: 'a' }] }), model).outputNames).toEqual([
      'b',
      'a',
    ])
  })

  it("takes each output's binary_data over the request default, and the transport default under both", () => {
    const body = json({
      parameters: { binary_data_output: false },
      outputs: [{ name: 'a', parameters: { binary_data: true } }, { name: 'b' }],
    })
    expect(decodeRequest(body, model).outputs).toEqual([
      { name: 'a', raw: true },
      { name: 'b', raw: false },
    ])
    expect(decodeRequest(json({}), model, { rawOutputsByDefault: true }).outputs.every((o) => o.raw)).toBe(
      true,
    )
  })

  it('refuses an empty list, an unknown output and a malformed binary_data', () => {
    expect(() => decodeRequest(json({ outputs: [] }), model)).toThrow(
      /outputs: must name at least one output/,
    )
    expect(() => decodeRequest(json({ outputs: [{ name: 'c' }] }), model)).toThrow(
      /outputs\[0\]\.name: unknown output "c"; model outputs: a, b/,
    )
    expect(() =>
      decodeRequest(json({ outputs: [{ name: 'a', parameters: { binary_data: 1 } }] }), model),
    ).toThrow(/outputs\[0\]\.parameters\.binary_data: expected true or false/)
  })
})

describe('encodeResponse', () => {
  it('answers the outputs asked for, in order and form, with the request id', () => {
    const request = decodeRequest(
      json({ id: 'r-1', outputs: [{ name: 'b', parameters: { binary_data: true } }, { name: 'a' }] }),
      model,
    )
    const answer = encodeResponse(
      request,
      { name: 'm', version: '3' },
      {
        a: { datatype: 'FP32', shape: [1, 2], data: Float32Array.of(1, 2) },
        b: { datatype: 'INT64', shape: [1], data: BigInt64Array.of(7n) },
      },
    )
    expect(answer).toMatchObject({ model_name: 'm', model_version: '3', id: 'r-1' })
    expect(answer.outputs.map((o) => [o.name, o.raw === null ? 'elements' : [...o.raw]])).toEqual([
      ['b', [7, 0, 0, 0, 0, 0, 0, 0]],
      ['a', 'elements'],
    ])
    expect(() => encodeResponse(request, { name: 'm', version: '3' }, {})).toThrow(
      /backend returned no tensor/,
    )
  })
})
