import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { status } from '@grpc/grpc-js'
import {
  GRPC_ERROR_CODE_METADATA,
  INFERENCE_HEADER_CONTENT_LENGTH,
  InferResponseSchema,
  TYPED_ARRAY_OF,
} from '@npu-fleet/protocol'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type CallResult, freeLoopbackPort, InferenceClient } from '../helpers/grpc-client.js'
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
} from '../kserve/fixtures/identity-models.js'
import { addSlowModel, SLOW_MODEL_WIDTH } from '../server/fixtures/slow-model.js'

// inference.GRPCInferenceService against a real worker process, with a client built from the .proto: the
// same metadata and the same answers as REST for every datatype (typed and raw contents), the REST path's
// deadlines, cancellation, admission control, auth, error codes and metrics, and drain on SIGTERM.

const TOKEN = 'grpc-test-token-0123456789'
const BEARER = `Bearer ${TOKEN}`
/** Every call but the deadline tests carries a deadline far beyond what it needs: the worker default is short. */
const GENEROUS_MS = 60_000

type Dt = keyof typeof IDENTITY_DATATYPES
const DATATYPES = Object.keys(IDENTITY_DATATYPES) as Dt[]

let repo: TempModelRepository
let worker: WorkerProcess
let client: InferenceClient

beforeAll(async () => {
  repo = makeMlpModelRepository()
  addIdentityModels(repo.dir)
  addSlowModel(repo.dir)
  // One running and one waiting slot: the third concurrent request is refused at once.
  writeFileSync(
    join(repo.dir, 'slow', 'model.yaml'),
    'devices: [CPU]\ninstances: 1\nthreads: 1\nqueue: { max_queued: 1 }\n',
  )
  // A short default deadline, so a call that finishes only shows that its own gRPC deadline replaced it.
  const config = join(repo.dir, 'worker.yaml')
  // A long grace: the drain test's in-flight call must never be cut by it, however loaded the machine.
  writeFileSync(config, 'request_timeout_ms: 700\nshutdown_grace_ms: 120000\n')
  const grpcPort = await freeLoopbackPort()
  worker = await startWorker({
    modelsDir: repo.dir,
    waitFor: 'ready',
    args: ['--config', config, '--grpc-port', String(grpcPort)],
    env: { NPU_WORKER_TOKEN: TOKEN },
  })
  client = new InferenceClient(`127.0.0.1:${grpcPort}`)
})

afterAll(async () => {
  client?.close()
  await worker?.stop()
  repo?.cleanup()
})

/** A gRPC call with the token and a generous deadline unless told otherwise. */
function call<T = Record<string, unknown>>(
  method: string,
  request: object,
  options: { deadlineMs?: number; signal?: AbortSignal; authorization?: string } = {},
): Promise<CallResult<T>> {
  return client.call<T>(method, request, { authorization: BEARER, deadlineMs: GENEROUS_MS, ...options })
}

/** The response of a call that must succeed. */
async function ok<T = Record<string, unknown>>(result: Promise<CallResult<T>>): Promise<T> {
  const r = await result
  if (!r.ok) throw new Error(`gRPC call failed: ${r.error.code} ${r.error.details}`)
  return r.response
}

/** The error of a call that must fail, with its status, message and worker code. */
async function failure(result: Promise<CallResult<unknown>>) {
  const r = await result
  if (r.ok) throw new Error(`gRPC call succeeded: ${JSON.stringify(r.response)}`)
  return {
    code: r.error.code,
    details: r.error.details,
    npuCode: r.error.metadata.get(GRPC_ERROR_CODE_METADATA)[0],
    retryAfter: r.error.metadata.get('retry-after')[0],
  }
}

const rest = async (path: string, init: RequestInit = {}) =>
  fetch(`${worker.url}${path}`, {
    ...init,
    headers: { authorization: BEARER, 'x-request-timeout-ms': String(GENEROUS_MS), ...init.headers },
  })

/** A REST binary-extension inference: every input raw, every output asked raw; the raw outputs back. */
async function restBinary(
  model: string,
  inputs: Array<{ name: string; datatype: string; shape: number[]; bytes: Uint8Array }>,
) {
  const header = Buffer.from(
    JSON.stringify({
      inputs: inputs.map(({ bytes, ...i }) => ({ ...i, parameters: { binary_data_size: bytes.length } })),
      parameters: { binary_data_output: true },
    }),
  )
  const res = await rest(`/v2/models/${model}/infer`, {
    method: 'POST',
    headers: {
      [INFERENCE_HEADER_CONTENT_LENGTH]: String(header.length),
      'content-type': 'application/octet-stream',
    },
    body: Buffer.concat([header, ...inputs.map((i) => i.bytes)]),
  })
  expect(res.status).toBe(200)
  const body = Buffer.from(await res.arrayBuffer())
  const split = Number(res.headers.get(INFERENCE_HEADER_CONTENT_LENGTH))
  const json = InferResponseSchema.parse(JSON.parse(body.subarray(0, split).toString()))
  let offset = split
  return json.outputs.map((o) => {
    const size = o.parameters?.binary_data_size as number
    const bytes = body.subarray(offset, offset + size)
    offset += size
    return { name: o.name, datatype: o.datatype, shape: o.shape, bytes }
  })
}

/** The raw bytes REST reads for the identity sample of `dt` (JSON in, binary out). */
async function sampleBytes(dt: Dt): Promise<Buffer> {
  const res = await rest(`/v2/models/${identityModelName(dt)}/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      inputs: [{ name: 'x', datatype: dt, shape: [2, 4], data: identitySample(dt) }],
      parameters: { binary_data_output: true },
    }),
  })
  expect(res.status).toBe(200)
  const body = Buffer.from(await res.arrayBuffer())
  return body.subarray(Number(res.headers.get(INFERENCE_HEADER_CONTENT_LENGTH)))
}

/** Typed contents for the identity sample of `dt`, in the field the protocol gives its datatype. */
function typedContents(dt: Dt): Record<string, unknown[]> {
  const values = identitySample(dt)
  switch (dt) {
    case 'BOOL':
      return { bool_contents: values }
    case 'INT8':
    case 'INT16':
    case 'INT32':
      return { int_contents: values }
    case 'INT64':
      return { int64_contents: values.map(String) }
    case 'UINT8':
    case 'UINT16':
    case 'UINT32':
      return { uint_contents: values }
    case 'UINT64':
      return { uint64_contents: values.map(String) }
    case 'FP32':
      return { fp32_contents: values }
    case 'FP64':
      return { fp64_contents: values }
    case 'BYTES':
      return { bytes_contents: values.map((s) => Buffer.from(String(s), 'utf8')) }
    case 'FP16':
      throw new Error('FP16 has no typed contents')
  }
}

/** Typed output contents as the bytes the binary extension carries, to compare with REST's exactly. */
function bytesOfContents(dt: Dt, contents: Record<string, unknown[]>): Buffer {
  const field = Object.keys(typedContents(dt))[0] as string
  const values = contents[field] ?? []
  if (dt === 'BYTES') {
    return Buffer.concat(
      (values as Buffer[]).flatMap((b) => {
        const length = Buffer.alloc(4)
        length.writeUInt32LE(b.length)
        return [length, b]
      }),
    )
  }
  if (dt === 'FP16') throw new Error('FP16 has no typed contents')
  const Typed = TYPED_ARRAY_OF[dt]
  const array =
    dt === 'INT64' || dt === 'UINT64'
      ? (Typed as BigInt64ArrayConstructor).from(values as string[], (v) => BigInt(v))
      : dt === 'BOOL'
        ? Uint8Array.from(values as boolean[], (v) => (v ? 1 : 0))
        : (Typed as Float64ArrayConstructor).from(values as number[])
  return Buffer.from(array.buffer, array.byteOffset, array.byteLength)
}

interface InferResponse {
  model_name: string
  model_version: string
  id: string
  outputs: Array<{
    name: string
    datatype: string
    shape: string[]
    contents: Record<string, unknown[]> | null
  }>
  raw_output_contents: Buffer[]
}

const slowInputs = (iterations: number) => ({
  model_name: 'slow',
  inputs: [
    { name: 'n', datatype: 'INT64', shape: [1], contents: { int64_contents: [String(iterations)] } },
    {
      name: 'x',
      datatype: 'FP32',
      shape: [1, SLOW_MODEL_WIDTH],
      contents: { fp32_contents: new Array(SLOW_MODEL_WIDTH).fill(1) },
    },
  ],
})

async function load(): Promise<{ active: number; queued: number }> {
  return (
    (await (await fetch(`${worker.url}/health`)).json()) as { load: { active: number; queued: number } }
  ).load
}

async function waitUntil(check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs
  while (Date.now() < until) {
    if (await check()) return
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  throw new Error('condition not reached in time')
}

describe('gRPC metadata', () => {
  it('answers live, ready and server metadata as REST does', async () => {
    expect(await ok(call('ServerLive', {}))).toEqual({ live: true })
    expect(await ok(call('ServerReady', {}))).toEqual({ ready: true })
    const meta = await ok(call('ServerMetadata', {}))
    expect(meta).toEqual(await (await rest('/v2')).json())
    expect(meta.extensions).toContain('binary_tensor_data')
  })

  it('answers model metadata and readiness as REST does; an unknown model is NOT_FOUND', async () => {
    const meta = await ok<{ inputs: Array<{ shape: string[] }>; outputs: Array<{ shape: string[] }> }>(
      call('ModelMetadata', { name: 'mlp' }),
    )
    const numeric = (t: { shape: string[] }) => ({ ...t, shape: t.shape.map(Number) })
    const expected = (await (await rest('/v2/models/mlp')).json()) as Record<string, unknown>
    expect({
      ...meta,
      inputs: meta.inputs.map(numeric),
      outputs: meta.outputs.map(numeric),
      properties: undefined,
    }).toEqual({
      ...expected,
      properties: undefined,
    })
    expect(await ok(call('ModelMetadata', { name: 'mlp', version: '1' }))).toEqual(meta)
    expect(await ok(call('ModelReady', { name: 'mlp' }))).toEqual({ ready: true })
    const missing = await failure(call('ModelReady', { name: 'no-such-model' }))
    expect(missing).toMatchObject({ code: status.NOT_FOUND, npuCode: 'NPU_ERR_MODEL_NOT_FOUND' })
    expect(missing.details).toMatch(/no-such-model/)
    expect(await failure(call('ModelMetadata', { name: 'mlp', version: '7' }))).toMatchObject({
      code: status.NOT_FOUND,
      npuCode: 'NPU_ERR_VERSION_NOT_FOUND',
    })
  })

  it('needs the bearer token in metadata, except for ServerLive and ServerReady', async () => {
    for (const authorization of ['', 'Bearer wrong-token-0123456789']) {
      expect(await failure(client.call('ServerMetadata', {}, { authorization }))).toMatchObject({
        code: status.UNAUTHENTICATED,
        npuCode: 'NPU_ERR_UNAUTHORIZED',
      })
      expect(await failure(client.call('ModelInfer', slowInputs(1), { authorization }))).toMatchObject({
        code: status.UNAUTHENTICATED,
      })
    }
    expect(await ok(client.call('ServerLive', {}))).toEqual({ live: true })
    expect(await ok(client.call('ServerReady', {}))).toEqual({ ready: true })
  })
})

describe('gRPC ModelInfer: the same answers as REST', () => {
  it.each(DATATYPES)('%s: raw contents in and out carry the bytes REST answers', async (dt) => {
    const bytes = await sampleBytes(dt)
    const [restOut] = await restBinary(identityModelName(dt), [
      { name: 'x', datatype: dt, shape: [2, 4], bytes },
    ])
    const answer = await ok<InferResponse>(
      call('ModelInfer', {
        model_name: identityModelName(dt),
        id: `raw-${dt}`,
        inputs: [{ name: 'x', datatype: dt, shape: [2, 4] }],
        raw_input_contents: [bytes],
      }),
    )
    expect(answer).toMatchObject({ model_name: identityModelName(dt), model_version: '1', id: `raw-${dt}` })
    expect(
      answer.outputs.map((o) => ({ name: o.name, datatype: o.datatype, shape: o.shape.map(Number) })),
    ).toEqual([{ name: 'y', datatype: dt, shape: [2, 4] }])
    expect(answer.raw_output_contents).toHaveLength(1)
    expect(Buffer.from(answer.raw_output_contents[0] as Buffer).equals(restOut?.bytes as Buffer)).toBe(true)
    expect(restOut?.bytes.equals(bytes)).toBe(true)
  })

  it.each(DATATYPES.filter((dt) => dt !== 'FP16'))(
    '%s: typed contents in and out hold the values REST answers',
    async (dt) => {
      // The REST answer to the same elements, sent raw (JSON text would lose the sign of -0).
      const inputBytes = bytesOfContents(dt, typedContents(dt))
      const [restOut] = await restBinary(identityModelName(dt), [
        { name: 'x', datatype: dt, shape: [2, 4], bytes: inputBytes },
      ])
      const answer = await ok<InferResponse>(
        call('ModelInfer', {
          model_name: identityModelName(dt),
          inputs: [{ name: 'x', datatype: dt, shape: [2, 4], contents: typedContents(dt) }],
          parameters: { binary_data_output: { bool_param: false } },
        }),
      )
      expect(answer.raw_output_contents).toEqual([])
      const contents = answer.outputs[0]?.contents ?? {}
      expect(bytesOfContents(dt, contents).equals(restOut?.bytes as Buffer)).toBe(true)
      expect(restOut?.bytes.equals(inputBytes)).toBe(true)
    },
  )

  it('computes the MLP from raw FP32 exactly as REST binary does', async () => {
    const input = Float32Array.from({ length: 3 * 384 }, (_, i) => Math.sin(i) / 3)
    const bytes = new Uint8Array(input.buffer)
    const [restOut] = await restBinary('mlp', [{ name: 'input', datatype: 'FP32', shape: [3, 384], bytes }])
    const answer = await ok<InferResponse>(
      call('ModelInfer', {
        model_name: 'mlp',
        inputs: [{ name: 'input', datatype: 'FP32', shape: [3, 384] }],
        raw_input_contents: [Buffer.from(bytes)],
      }),
    )
    expect(Buffer.from(answer.raw_output_contents[0] as Buffer).equals(restOut?.bytes as Buffer)).toBe(true)
    // Typed contents of the same input: the same numbers.
    const typed = await ok<InferResponse>(
      call('ModelInfer', {
        model_name: 'mlp',
        inputs: [
          { name: 'input', datatype: 'FP32', shape: [3, 384], contents: { fp32_contents: [...input] } },
        ],
        outputs: [{ name: 'output', parameters: { binary_data: { bool_param: false } } }],
      }),
    )
    const out = Float32Array.from(typed.outputs[0]?.contents?.fp32_contents as number[])
    expect(Buffer.from(out.buffer).equals(restOut?.bytes as Buffer)).toBe(true)
  })
})

describe("gRPC errors: the REST path's, mapped to status codes", () => {
  it('refuses bad input with INVALID_ARGUMENT and a message naming the field', async () => {
    const cases: Array<[object, RegExp]> = [
      [
        {
          model_name: 'mlp',
          inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 383] }],
          raw_input_contents: [Buffer.alloc(383 * 4)],
        },
        /inputs\[0\]\.shape\[1\]: model input "input" expects 384, got 383/,
      ],
      [
        {
          model_name: 'mlp',
          inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 384] }],
          raw_input_contents: [Buffer.alloc(12)],
        },
        /raw_input_contents\[0\]: FP32 shape \[1,384\] needs 1536 bytes, got 12/,
      ],
      [
        {
          model_name: 'mlp',
          inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 2], contents: { int_contents: [1, 2] } }],
        },
        /inputs\[0\]\.contents\.int_contents: given for a FP32 input, which takes fp32_contents/,
      ],
      [
        {
          model_name: identityModelName('FP16'),
          inputs: [{ name: 'x', datatype: 'FP16', shape: [1, 4], contents: { fp32_contents: [1, 2, 3, 4] } }],
        },
        /inputs\[0\]: FP16 has no typed contents in the protocol; send it in raw_input_contents/,
      ],
      [
        {
          model_name: identityModelName('FP16'),
          inputs: [{ name: 'x', datatype: 'FP16', shape: [1, 4] }],
          raw_input_contents: [Buffer.alloc(8)],
          parameters: { binary_data_output: { bool_param: false } },
        },
        /outputs: FP16 outputs have no typed contents/,
      ],
      [
        { model_name: 'mlp', inputs: [{ name: 'input', datatype: 'FLOAT', shape: [1, 384] }] },
        /inputs\[0\]\.datatype: expected one of BOOL/,
      ],
      [
        {
          model_name: 'mlp',
          inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 384], contents: { fp32_contents: [1] } }],
        },
        /inputs\[0\]\.contents\.fp32_contents: expected 384 elements for shape \[1,384\], got 1/,
      ],
      [
        {
          model_name: 'mlp',
          inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 384] }],
          raw_input_contents: [Buffer.alloc(1536), Buffer.alloc(4)],
        },
        /raw_input_contents: 2 entries for 1 inputs/,
      ],
      [
        { ...slowInputs(1), parameters: { sequence_id: { int64_param: '7' } } },
        /parameters\.sequence_id: reserved for the sequence extension/,
      ],
    ]
    for (const [request, message] of cases) {
      const error = await failure(call('ModelInfer', request))
      expect(error, String(message)).toMatchObject({
        code: status.INVALID_ARGUMENT,
        npuCode: 'NPU_ERR_BAD_INFER_REQUEST',
      })
      expect(error.details).toMatch(message)
    }
    expect(await failure(call('ModelInfer', { ...slowInputs(1), model_name: 'nope' }))).toMatchObject({
      code: status.NOT_FOUND,
      npuCode: 'NPU_ERR_MODEL_NOT_FOUND',
    })
    expect(await failure(call('ModelInfer', { ...slowInputs(1), model_name: '../etc' }))).toMatchObject({
      code: status.INVALID_ARGUMENT,
      npuCode: 'NPU_ERR_BAD_MODEL_NAME',
    })
    // The worker serves on after every refusal.
    expect((await ok<InferResponse>(call('ModelInfer', slowInputs(1)))).outputs[0]?.name).toBe('y')
  })

  it('takes its deadline from the gRPC deadline: past the worker default when longer, and ends queued work when it passes', async () => {
    // The worker's default deadline is 700 ms; this call's own is 60 s, so it finishes.
    const long = await call<InferResponse>('ModelInfer', slowInputs(150_000), { deadlineMs: GENEROUS_MS })
    expect(long.ok).toBe(true)
    // The same call over REST with no deadline of its own gets the default: 504.
    const restLong = await fetch(`${worker.url}/v2/models/slow/infer`, {
      method: 'POST',
      headers: { authorization: BEARER, 'content-type': 'application/json' },
      body: JSON.stringify({
        inputs: [
          { name: 'n', datatype: 'INT64', shape: [1], data: [150_000] },
          {
            name: 'x',
            datatype: 'FP32',
            shape: [1, SLOW_MODEL_WIDTH],
            data: new Array(SLOW_MODEL_WIDTH).fill(1),
          },
        ],
      }),
    })
    expect(restLong.status).toBe(504)
    await waitUntil(async () => (await load()).active === 0, GENEROUS_MS)

    // A short deadline while queued: DEADLINE_EXCEEDED, and its queue slot is free again.
    const busy = call<InferResponse>('ModelInfer', slowInputs(300_000))
    await waitUntil(async () => (await load()).active >= 1)
    expect(await failure(call('ModelInfer', slowInputs(1), { deadlineMs: 300 }))).toMatchObject({
      code: status.DEADLINE_EXCEEDED,
    })
    await waitUntil(async () => (await load()).queued === 0)
    const next = call<InferResponse>('ModelInfer', slowInputs(1))
    expect((await busy).ok).toBe(true)
    expect((await next).ok).toBe(true)
  })

  it('frees the queue slot of a call the client cancels; a full queue is UNAVAILABLE with retry-after', async () => {
    const busy = call<InferResponse>('ModelInfer', slowInputs(300_000))
    await waitUntil(async () => (await load()).active >= 1)
    const controller = new AbortController()
    const cancelled = call('ModelInfer', slowInputs(1), { signal: controller.signal })
    await waitUntil(async () => (await load()).queued >= 1)
    controller.abort()
    expect(await failure(cancelled)).toMatchObject({ code: status.CANCELLED })
    await waitUntil(async () => (await load()).queued === 0)
    // The slot it held takes the next call; one more finds the queue full.
    const waiting = call<InferResponse>('ModelInfer', slowInputs(1))
    await waitUntil(async () => (await load()).queued >= 1)
    const refused = await failure(call('ModelInfer', slowInputs(1)))
    expect(refused).toMatchObject({ code: status.UNAVAILABLE, npuCode: 'NPU_ERR_QUEUE_FULL' })
    expect(Number(refused.retryAfter)).toBeGreaterThanOrEqual(1)
    expect((await busy).ok).toBe(true)
    expect((await waiting).ok).toBe(true)
  })

  it('counts calls by method and status in /metrics, next to the shared inference metrics', async () => {
    const text = await (await fetch(`${worker.url}/metrics`)).text()
    expect(text).toMatch(/npu_worker_grpc_requests_total\{method="ModelInfer",code="OK"\} [1-9]/)
    expect(text).toMatch(
      /npu_worker_grpc_requests_total\{method="ModelInfer",code="INVALID_ARGUMENT"\} [1-9]/,
    )
    expect(text).toMatch(
      /npu_worker_grpc_requests_total\{method="ServerMetadata",code="UNAUTHENTICATED"\} [1-9]/,
    )
    expect(text).toMatch(/npu_worker_inference_duration_seconds_count\{model="slow"/)
  })
})

describe('gRPC and graceful drain', () => {
  it('finishes a call in flight on SIGTERM, answers new ones UNAVAILABLE, and exits 0', async () => {
    const inFlight = call<InferResponse>('ModelInfer', slowInputs(150_000))
    await waitUntil(async () => (await load()).active >= 1)
    worker.process.kill('SIGTERM')
    await waitUntil(async () => {
      const res = await fetch(`${worker.url}/health`).catch(() => null)
      return res?.status === 503
    })
    expect(await failure(call('ModelInfer', slowInputs(1)))).toMatchObject({
      code: status.UNAVAILABLE,
      npuCode: 'NPU_ERR_NOT_SERVING',
    })
    expect((await ok(inFlight)).outputs[0]?.name).toBe('y')
    expect(await worker.waitForExit()).toBe(0)
  })
})
