import { status } from '@grpc/grpc-js'
import { WorkerErrorCode } from '@npu-fleet/protocol'
import { describe, expect, it } from 'vitest'
import * as errors from '../../src/errors.js'
import { GRPC_STATUS_OF, grpcErrorOf } from '../../src/grpc/grpc-status.js'
import {
  checkAnswerForm,
  grpcResponseOf,
  parametersOf,
  structureGrpcRequest,
} from '../../src/grpc/grpc-tensors.js'
import { decodeRequest } from '../../src/kserve/decode-request.js'
import { encodeResponse } from '../../src/kserve/encode-response.js'

// The gRPC side of the shared path: a ModelInferRequest into the structured request decodeRequest takes, an
// encoded answer into a ModelInferResponse, and the status of every worker error code.

describe('structureGrpcRequest', () => {
  it('takes typed contents from the field of the datatype, raw contents by position, parameters by their set member', () => {
    const request = structureGrpcRequest({
      model_name: 'm',
      id: 'q',
      parameters: {
        timeout: { parameter_choice: 'int64_param', int64_param: '250' },
        big: { parameter_choice: 'uint64_param', uint64_param: '18446744073709551615' },
        flag: { parameter_choice: 'bool_param', bool_param: true },
      },
      inputs: [
        {
          name: 'x',
          datatype: 'INT64',
          shape: ['2'],
          contents: { int64_contents: ['1', '9007199254740993'] },
        },
      ],
    })
    expect(request.id).toBe('q')
    expect(request.parameters).toEqual({ timeout: 250, big: '18446744073709551615', flag: true })
    expect(request.inputs[0]).toMatchObject({
      shape: [2],
      contents: {
        kind: 'elements',
        data: ['1', '9007199254740993'],
        field: 'inputs[0].contents.int64_contents',
      },
    })
    const decoded = decodeRequest(
      { kind: 'decoded', request },
      {
        inputs: [{ name: 'x', datatype: 'INT64', shape: [-1] }],
        outputs: [],
      },
    )
    // Exact past 2^53: int64 travels as decimal strings.
    expect(decoded.inputs.x?.data).toEqual(BigInt64Array.of(1n, 9007199254740993n))
    expect(decoded.timeoutMs).toBe(250)
  })

  it('names the field of every malformed part', () => {
    const cases: Array<[object, RegExp]> = [
      [{ inputs: [] }, /^inputs: must hold at least one input/],
      [{ inputs: [{ datatype: 'FP32', shape: [] }] }, /^inputs\[0\]\.name: required/],
      [{ inputs: [{ name: 'x', datatype: 'fp32', shape: [] }] }, /^inputs\[0\]\.datatype: expected one of/],
      [
        { inputs: [{ name: 'x', datatype: 'FP32', shape: ['-1'] }] },
        /^inputs\[0\]\.shape\[0\]: expected a dimension/,
      ],
      [
        {
          inputs: [{ name: 'x', datatype: 'FP32', shape: [1], contents: { fp32_contents: [1] } }],
          raw_input_contents: [Buffer.alloc(4)],
        },
        /^inputs\[0\]\.contents\.fp32_contents: must be empty when the request uses raw_input_contents/,
      ],
      [
        { inputs: [{ name: 'x', datatype: 'BF16', shape: [1] }] },
        /^inputs\[0\]: BF16 has no typed contents in the protocol; send it in raw_input_contents/,
      ],
      [
        {
          inputs: [
            {
              name: 'x',
              datatype: 'BOOL',
              shape: [1],
              contents: { bool_contents: [true], int_contents: [1] },
            },
          ],
        },
        /^inputs\[0\]\.contents\.int_contents: given for a BOOL input, which takes bool_contents/,
      ],
      [
        { inputs: [{ name: 'x', datatype: 'FP32', shape: [1] }], outputs: [{}] },
        /^outputs\[0\]\.name: required/,
      ],
      [
        { inputs: [{ name: 'x', datatype: 'FP32', shape: [1], parameters: { p: {} } }] },
        /^inputs\[0\]\.parameters\.p: a parameter with no value set/,
      ],
    ]
    for (const [request, message] of cases) {
      expect(() => structureGrpcRequest(request), String(message)).toThrow(
        expect.objectContaining({
          code: 'NPU_ERR_BAD_INFER_REQUEST',
          message: expect.stringMatching(message),
        }),
      )
    }
  })

  it('reads every InferParameter member', () => {
    expect(
      parametersOf(
        {
          s: { parameter_choice: 'string_param', string_param: 'v' },
          d: { parameter_choice: 'double_param', double_param: 0.25 },
          n: { parameter_choice: 'int64_param', int64_param: '-3' },
        },
        'parameters',
      ),
    ).toEqual({ s: 'v', d: 0.25, n: -3 })
  })
})

describe('the form of a gRPC answer', () => {
  const request = (parameters: Record<string, unknown>, outputs?: Array<Record<string, unknown>>) =>
    structureGrpcRequest({
      inputs: [{ name: 'x', datatype: 'FP32', shape: [1], contents: { fp32_contents: [1] } }],
      parameters: Object.fromEntries(
        Object.entries(parameters).map(([k, v]) => [
          k,
          { parameter_choice: 'bool_param', bool_param: v as boolean },
        ]),
      ),
      ...(outputs ? { outputs } : {}),
    })

  it('is raw by default and typed when asked; one or the other for all outputs, and raw for 16-bit floats', () => {
    expect(() => checkAnswerForm(request({}), ['FP16'])).not.toThrow()
    expect(() => checkAnswerForm(request({ binary_data_output: false }), ['FP32'])).not.toThrow()
    expect(() => checkAnswerForm(request({ binary_data_output: false }), ['FP32', 'BF16'])).toThrow(
      /outputs: BF16 outputs have no typed contents/,
    )
    const mixed = request({}, [
      { name: 'a', parameters: { binary_data: { parameter_choice: 'bool_param', bool_param: false } } },
      { name: 'b' },
    ])
    expect(() => checkAnswerForm(mixed, ['FP32', 'FP32'])).toThrow(
      /either raw_output_contents or typed contents/,
    )
  })

  it('writes typed contents in the field of each datatype, int64 exactly, or raw contents in output order', () => {
    const decoded = decodeRequest(
      {
        kind: 'decoded',
        request: structureGrpcRequest({
          inputs: [{ name: 'x', datatype: 'FP32', shape: [1], contents: { fp32_contents: [1] } }],
          parameters: { binary_data_output: { parameter_choice: 'bool_param', bool_param: false } },
        }),
      },
      {
        inputs: [{ name: 'x', datatype: 'FP32', shape: [1] }],
        outputs: [
          { name: 'flag', datatype: 'BOOL', shape: [2] },
          { name: 'big', datatype: 'UINT64', shape: [1] },
          { name: 'text', datatype: 'BYTES', shape: [1] },
          { name: 'small', datatype: 'INT8', shape: [1] },
        ],
      },
      { rawOutputsByDefault: true },
    )
    const outputs = {
      flag: { datatype: 'BOOL' as const, shape: [2], data: Uint8Array.of(1, 0) },
      big: { datatype: 'UINT64' as const, shape: [1], data: BigUint64Array.of(2n ** 64n - 1n) },
      text: { datatype: 'BYTES' as const, shape: [1], data: ['héllo'] },
      small: { datatype: 'INT8' as const, shape: [1], data: Int8Array.of(-5) },
    }
    const typed = grpcResponseOf(encodeResponse(decoded, { name: 'm', version: '1' }, outputs))
    expect(typed.raw_output_contents).toEqual([])
    expect(typed.outputs.map((o) => o.contents)).toEqual([
      { bool_contents: [true, false] },
      { uint64_contents: ['18446744073709551615'] },
      { bytes_contents: [Buffer.from('héllo')] },
      { int_contents: [-5] },
    ])
    const raw = grpcResponseOf(
      encodeResponse(
        { ...decoded, outputs: decoded.outputs.map((o) => ({ ...o, raw: true })) },
        { name: 'm', version: '1' },
        outputs,
      ),
    )
    expect(raw.outputs.every((o) => o.contents === undefined)).toBe(true)
    expect(raw.raw_output_contents.map((b) => [...b])).toEqual([
      [1, 0],
      [255, 255, 255, 255, 255, 255, 255, 255],
      [6, 0, 0, 0, ...Buffer.from('héllo')],
      [251],
    ])
  })
})

describe('gRPC status of worker errors', () => {
  it('maps every code, as Triton does: 4xx input errors INVALID_ARGUMENT, 404 NOT_FOUND, 503 UNAVAILABLE, 409 FAILED_PRECONDITION, 500 INTERNAL', () => {
    expect(Object.keys(GRPC_STATUS_OF).sort()).toEqual(Object.values(WorkerErrorCode).sort())
    type AnyError = new (...args: unknown[]) => { code: string; statusCode: number }
    for (const E of Object.values(errors)) {
      const { code, statusCode } = new (E as AnyError)('x', ['y'])
      const grpc = GRPC_STATUS_OF[code as WorkerErrorCode]
      const expected: Record<number, number[]> = {
        400: [status.INVALID_ARGUMENT],
        401: [status.UNAUTHENTICATED],
        404: [status.NOT_FOUND, status.UNIMPLEMENTED],
        409: [status.FAILED_PRECONDITION],
        413: [status.RESOURCE_EXHAUSTED, status.INVALID_ARGUMENT],
        415: [status.INVALID_ARGUMENT],
        499: [status.CANCELLED],
        500: [status.INTERNAL],
        503: [status.UNAVAILABLE],
        504: [status.DEADLINE_EXCEEDED, status.UNAVAILABLE],
      }
      expect(expected[statusCode], code).toContain(grpc)
    }
  })

  it('carries the worker code and Retry-After in the trailers', () => {
    const error = grpcErrorOf(WorkerErrorCode.QUEUE_FULL, 'full', new errors.ErrQueueFull('m:1', 4, 3))
    expect(error.code).toBe(status.UNAVAILABLE)
    expect(error.details).toBe('full')
    expect(error.metadata?.getMap()).toEqual({ 'npu-error-code': 'NPU_ERR_QUEUE_FULL', 'retry-after': '3' })
  })
})
