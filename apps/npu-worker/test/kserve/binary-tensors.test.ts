import { join } from 'node:path'
import {
  INFERENCE_HEADER_CONTENT_LENGTH,
  InferResponseSchema,
  type RequestInput,
  TYPED_ARRAY_OF,
} from '@npu-fleet/protocol'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { TensorInfo } from '../../src/backends/backend.js'
import type { Tensor } from '../../src/backends/tensor.js'
import { decodeRequest } from '../../src/kserve/decode-request.js'
import { fromHalfBits } from '../../src/kserve/half-float.js'
import { jsonElements, rawBytes } from '../../src/kserve/tensor-codec.js'
import { loadMlpReference } from '../helpers/mlp-reference.js'
import {
  makeMlpModelRepository,
  startWorker,
  type TempModelRepository,
  type WorkerProcess,
} from '../helpers/worker-process.js'
import {
  addIdentityModels,
  IDENTITY_DATATYPES,
  identityModelName,
  identitySample,
} from './fixtures/identity-models.js'

// The KServe binary tensor extension: for every datatype, the binary form carries exactly what the JSON
// form does, in the codec and end to end through a real worker and ONNX Runtime (BYTES through a string
// Identity model: length-prefixed in binary, strings in JSON).

/** The inputs of a request decoded against `model`: plain JSON, or with `binary` as the binary extension's part. */
function decodeInputs(
  inputs: RequestInput[],
  model: TensorInfo[],
  binary: Uint8Array | null = null,
): Record<string, Tensor> {
  const json = { inputs }
  const body =
    binary === null
      ? ({ kind: 'json', json } as const)
      : ({ kind: 'binary', json, tensors: binary, owned: false } as const)
  return decodeRequest(body, { inputs: model, outputs: [] }).inputs
}
const encodeOutput = (_name: string, tensor: Tensor) => ({ data: jsonElements(tensor) })

type Dt = keyof typeof IDENTITY_DATATYPES
const DATATYPES = Object.keys(IDENTITY_DATATYPES) as Dt[]

const info = (dt: Dt): TensorInfo[] => [{ name: 'x', datatype: dt, shape: [-1, 4] }]
const bytesOf = (t: Tensor) => Buffer.from(rawBytes(t))

describe('tensor codec: binary form against JSON form', () => {
  it.each(DATATYPES)('%s: the same tensor from JSON data and from little-endian bytes', (dt) => {
    const json = decodeInputs(
      [{ name: 'x', datatype: dt, shape: [2, 4], data: identitySample(dt) }],
      info(dt),
    ).x as Tensor
    const bytes = Buffer.from(bytesOf(json))
    if (dt !== 'BYTES') expect(bytes.length).toBe(8 * TYPED_ARRAY_OF[dt].BYTES_PER_ELEMENT)
    // An odd offset inside a larger buffer: the decoder must copy, not view unaligned memory.
    const framed = Buffer.concat([Buffer.from([0xaa]), bytes]).subarray(1)
    const binary = decodeInputs(
      [{ name: 'x', datatype: dt, shape: [2, 4], parameters: { binary_data_size: bytes.length } }],
      info(dt),
      framed,
    ).x as Tensor
    if (binary.datatype === 'BYTES') expect(binary.data).toEqual(identitySample('BYTES'))
    else expect(binary.data).toBeInstanceOf(TYPED_ARRAY_OF[binary.datatype])
    expect(binary.shape).toEqual([2, 4])
    // Encoding back: the raw output carries the same bytes the JSON output carries as values.
    expect(bytesOf(binary).equals(bytes)).toBe(true)
    expect(encodeOutput('y', binary).data).toEqual(encodeOutput('y', json).data)
  })

  it('reads any non-zero BOOL byte as true', () => {
    const t = decodeInputs(
      [{ name: 'x', datatype: 'BOOL', shape: [1, 4], parameters: { binary_data_size: 4 } }],
      info('BOOL'),
      Buffer.from([0, 7, 255, 1]),
    ).x as Tensor
    expect([...t.data]).toEqual([0, 1, 1, 1])
  })

  it('names the field when the sizes do not add up', () => {
    const decode =
      (size: unknown, bytes: number, extra: Record<string, unknown> = {}) =>
      () =>
        decodeInputs(
          [
            {
              name: 'x',
              datatype: 'FP32',
              shape: [1, 4],
              parameters: { binary_data_size: size as number },
              ...extra,
            },
          ],
          info('FP32'),
          Buffer.alloc(bytes),
        )
    expect(decode(12, 12)).toThrow(
      /inputs\[0\]\.parameters\.binary_data_size: FP32 shape \[1,4\] needs 16 bytes, got 12/,
    )
    expect(decode(16, 8)).toThrow(/only 8 binary bytes are left/)
    expect(decode(16, 20)).toThrow(/4 bytes that no input's binary_data_size claims/)
    expect(decode(-1, 16)).toThrow(/binary_data_size: expected a byte count/)
    expect(decode('16', 16)).toThrow(/binary_data_size: expected a byte count/)
    expect(decode(16, 16, { data: [1, 2, 3, 4] })).toThrow(/inputs\[0\]\.data: must be left out/)
    expect(() =>
      decodeInputs(
        [{ name: 'x', datatype: 'FP32', shape: [1, 4], parameters: { binary_data_size: 16 } }],
        info('FP32'),
        null,
      ),
    ).toThrow(/no binary part/)
  })
})

let repo: TempModelRepository
let worker: WorkerProcess

beforeAll(async () => {
  repo = makeMlpModelRepository()
  addIdentityModels(repo.dir)
  worker = await startWorker({ modelsDir: repo.dir, waitFor: 'ready' })
})

afterAll(async () => {
  await worker?.stop()
  repo?.cleanup()
})

/** Sends a binary-extension request; returns the status, the JSON part and the binary part. */
async function postBinary(path: string, json: unknown, tensors: Uint8Array[], contentType?: string) {
  const header = Buffer.from(JSON.stringify(json))
  const res = await fetch(`${worker.url}${path}`, {
    method: 'POST',
    headers: {
      [INFERENCE_HEADER_CONTENT_LENGTH]: String(header.length),
      ...(contentType ? { 'content-type': contentType } : { 'content-type': 'application/octet-stream' }),
    },
    body: Buffer.concat([header, ...tensors]),
  })
  const body = Buffer.from(await res.arrayBuffer())
  const jsonLength = res.headers.get(INFERENCE_HEADER_CONTENT_LENGTH)
  const split = jsonLength === null ? body.length : Number(jsonLength)
  return {
    status: res.status,
    contentType: res.headers.get('content-type'),
    json: JSON.parse(body.subarray(0, split).toString()) as Record<string, unknown>,
    binary: body.subarray(split),
  }
}

async function postJson(path: string, json: unknown) {
  const res = await fetch(`${worker.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(json),
  })
  return { status: res.status, json: (await res.json()) as Record<string, unknown> }
}

describe('binary tensor extension over HTTP (real worker, ONNX Runtime Identity models)', () => {
  it('advertises the extension in GET /v2', async () => {
    const res = await fetch(`${worker.url}/v2`)
    expect(((await res.json()) as { extensions: string[] }).extensions).toContain('binary_tensor_data')
  })

  it.each(DATATYPES)(
    '%s: binary in and out returns the bytes sent; JSON gives the same values',
    async (dt) => {
      const tensor = decodeInputs(
        [{ name: 'x', datatype: dt, shape: [2, 4], data: identitySample(dt) }],
        info(dt),
      ).x as Tensor
      const bytes = Buffer.from(bytesOf(tensor))
      const path = `/v2/models/${identityModelName(dt)}/infer`
      const binary = await postBinary(
        path,
        {
          inputs: [
            { name: 'x', datatype: dt, shape: [2, 4], parameters: { binary_data_size: bytes.length } },
          ],
          parameters: { binary_data_output: true },
        },
        [bytes],
      )
      expect(binary.status).toBe(200)
      expect(binary.contentType).toMatch(/^application\/octet-stream/)
      const response = InferResponseSchema.parse(binary.json)
      expect(response.outputs).toEqual([
        { name: 'y', datatype: dt, shape: [2, 4], parameters: { binary_data_size: bytes.length } },
      ])
      expect(binary.binary.equals(bytes)).toBe(true)

      const json = await postJson(path, {
        inputs: [{ name: 'x', datatype: dt, shape: [2, 4], data: identitySample(dt) }],
      })
      expect(json.status).toBe(200)
      const jsonOut = InferResponseSchema.parse(json.json).outputs[0]
      // JSON has no -0: compare with what the JSON text of the values reads back as.
      expect(jsonOut?.data).toEqual(JSON.parse(JSON.stringify(encodeOutput('y', tensor).data)))
      if (dt === 'FP16') expect(jsonOut?.data?.[7]).toBe(fromHalfBits(tensor.data[7] as number))
    },
  )

  it('mixes forms: binary input with a JSON output, and per-output binary_data overriding the request', async () => {
    const tensor = decodeInputs(
      [{ name: 'x', datatype: 'INT32', shape: [2, 4], data: identitySample('INT32') }],
      info('INT32'),
    ).x as Tensor
    const bytes = Buffer.from(bytesOf(tensor))
    const res = await postBinary(
      `/v2/models/${identityModelName('INT32')}/infer`,
      {
        inputs: [{ name: 'x', datatype: 'INT32', shape: [2, 4], parameters: { binary_data_size: 32 } }],
        outputs: [{ name: 'y', parameters: { binary_data: false } }],
        parameters: { binary_data_output: true },
      },
      [bytes],
    )
    expect(res.status).toBe(200)
    expect(res.binary.length).toBe(0)
    expect(InferResponseSchema.parse(res.json).outputs[0]?.data).toEqual(identitySample('INT32'))
  })

  it('computes the MLP from binary FP32 exactly as from JSON (and as the reference)', async () => {
    const reference = loadMlpReference(join(repo.dir, 'mlp', '1', 'model.onnx'))
    const input = Float32Array.from({ length: 3 * 384 }, (_, i) => Math.sin(i) / 3)
    const res = await postBinary(
      '/v2/models/mlp/infer',
      {
        inputs: [
          {
            name: 'input',
            datatype: 'FP32',
            shape: [3, 384],
            parameters: { binary_data_size: input.byteLength },
          },
        ],
        outputs: [{ name: 'output', parameters: { binary_data: true } }],
      },
      [new Uint8Array(input.buffer)],
      // Some clients label the framed body application/json; the header, not the type, decides.
      'application/json',
    )
    expect(res.status).toBe(200)
    const out = new Float32Array(new Uint8Array(res.binary).buffer)
    const expected = reference(input, 3)
    expect(out.length).toBe(expected.length)
    for (let i = 0; i < out.length; i++) expect(out[i]).toBeCloseTo(expected[i] as number, 4)
    const json = await postJson('/v2/models/mlp/infer', {
      inputs: [{ name: 'input', datatype: 'FP32', shape: [3, 384], data: [...input] }],
    })
    expect(InferResponseSchema.parse(json.json).outputs[0]?.data).toEqual([...out])
  })

  it('answers every large body with its own bytes while input buffers are reused (sequential and concurrent)', async () => {
    // 128 KiB bodies: above POOLED_MIN_BYTES, so each body after the first is read into a buffer an earlier
    // inference handed back; a stale byte would show in the echoed answer.
    const rows = 8192
    const path = `/v2/models/${identityModelName('FP32')}/infer`
    const body = (seed: number) => Float32Array.from({ length: rows * 4 }, (_, i) => seed * 1e5 + i)
    const send = (seed: number) => {
      const bytes = new Uint8Array(body(seed).buffer)
      return postBinary(
        path,
        {
          inputs: [
            { name: 'x', datatype: 'FP32', shape: [rows, 4], parameters: { binary_data_size: bytes.length } },
          ],
          parameters: { binary_data_output: true },
        },
        [bytes],
      ).then((res) => ({ res, bytes }))
    }
    for (const seed of [1, 2, 3]) {
      const { res, bytes } = await send(seed)
      expect(res.status).toBe(200)
      expect(Buffer.compare(res.binary, bytes)).toBe(0)
    }
    const together = await Promise.all([4, 5, 6, 7, 8, 9].map(send))
    for (const { res, bytes } of together) {
      expect(res.status).toBe(200)
      expect(Buffer.compare(res.binary, bytes)).toBe(0)
    }
  })

  it('answers 400 with the field for a bad header, size mismatch or truncated body, and the worker keeps serving', async () => {
    const path = `/v2/models/${identityModelName('FP32')}/infer`
    const good = Buffer.alloc(32)
    const request = {
      inputs: [{ name: 'x', datatype: 'FP32', shape: [2, 4], parameters: { binary_data_size: 32 } }],
    }
    const header = Buffer.from(JSON.stringify(request))
    const send = (headerValue: string, body: Buffer, contentType?: string) =>
      fetch(`${worker.url}${path}`, {
        method: 'POST',
        headers: {
          [INFERENCE_HEADER_CONTENT_LENGTH]: headerValue,
          ...(contentType ? { 'content-type': contentType } : {}),
        },
        body,
      })
    const cases: Array<[string, Buffer, RegExp]> = [
      [
        'abc',
        Buffer.concat([header, good]),
        /inference-header-content-length: expected the JSON part's length/,
      ],
      [String(header.length + 100), Buffer.concat([header, good]), /expected the JSON part's length, 1 to/],
      [String(header.length - 3), Buffer.concat([header, good]), /are not JSON/],
      [String(header.length), Buffer.concat([header, good.subarray(0, 20)]), /only 20 binary bytes are left/],
      [
        String(header.length),
        Buffer.concat([header, good, good]),
        /32 bytes that no input's binary_data_size claims/,
      ],
    ]
    for (const [value, body, message] of cases) {
      const res = await send(value, body)
      expect(res.status).toBe(400)
      const err = (await res.json()) as { error: string; code: string }
      expect(err.code).toMatch(/^NPU_ERR_(BAD_INFER_REQUEST|MALFORMED_BODY)$/)
      expect(err.error).toMatch(message)
    }
    const wrongType = await fetch(`${worker.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: JSON.stringify({ inputs: [] }),
    })
    expect(wrongType.status).toBe(415)
    expect(await wrongType.json()).toMatchObject({ code: 'NPU_ERR_UNSUPPORTED_MEDIA_TYPE' })
    const ok = await send(String(header.length), Buffer.concat([header, good]), 'application/octet-stream')
    expect(ok.status).toBe(200)
  })
})
