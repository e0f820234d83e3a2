import { cpSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { InferResponseSchema, ModelConfigSchema, ModelMetadataSchema } from '@npu-fleet/protocol'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadMlpReference } from '../helpers/mlp-reference.js'
import {
  makeMlpModelRepository,
  startWorker,
  type TempModelRepository,
  type WorkerProcess,
} from '../helpers/worker-process.js'
import { addSlowModel, SLOW_MODEL_WIDTH } from '../server/fixtures/slow-model.js'

// KServe v2 routes against a real worker process: the generated MLP checked against an independent
// reference, a real PP-OCR model, and every error the protocol defines.

let repo: TempModelRepository
let worker: WorkerProcess

beforeAll(async () => {
  repo = makeMlpModelRepository({ extra: ['ppocr-cls'] })
  addSlowModel(repo.dir)
  // The MLP again, with dynamic batching: its configuration says so.
  cpSync(join(repo.dir, 'mlp'), join(repo.dir, 'batched'), { recursive: true })
  writeFileSync(
    join(repo.dir, 'batched', 'model.yaml'),
    'devices: [CPU]\ninstances: 1\nbatching: { max_batch_size: 8, max_queue_delay_us: 2000, preferred_batch_sizes: [4] }\n',
  )
  // One running and one waiting slot: the third concurrent request must be refused at once.
  writeFileSync(
    join(repo.dir, 'slow', 'model.yaml'),
    'devices: [CPU]\ninstances: 1\nthreads: 1\nqueue: { max_queued: 1 }\n',
  )
  worker = await startWorker({
    modelsDir: repo.dir,
    waitFor: 'ready',
    args: ['--config', writeConfig(repo.dir)],
  })
})

afterAll(async () => {
  await worker?.stop()
  repo?.cleanup()
})

function writeConfig(dir: string): string {
  const file = join(dir, 'worker.yaml')
  writeFileSync(file, 'body_limit_bytes: 2000000\n')
  return file
}

async function post(path: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${worker.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  })
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> }
}

const mlpInput = (batch: number, fill: (i: number) => number = (i) => Math.cos(i) / 2) => ({
  name: 'input',
  datatype: 'FP32',
  shape: [batch, 384],
  data: Array.from({ length: batch * 384 }, (_, i) => fill(i)),
})

const slowRequest = (iterations: number) => ({
  inputs: [
    { name: 'n', datatype: 'INT64', shape: [1], data: [iterations] },
    { name: 'x', datatype: 'FP32', shape: [1, SLOW_MODEL_WIDTH], data: new Array(SLOW_MODEL_WIDTH).fill(1) },
  ],
})

describe('KServe v2 metadata and health', () => {
  it('serves live, ready, server and model metadata', async () => {
    expect((await fetch(`${worker.url}/v2/health/live`)).status).toBe(200)
    expect(await (await fetch(`${worker.url}/v2/health/ready`)).json()).toEqual({ ready: true })
    const server = await (await fetch(`${worker.url}/v2`)).json()
    expect(server).toMatchObject({ name: 'npu-worker', version: '1.0.0' })
    const meta = ModelMetadataSchema.parse(await (await fetch(`${worker.url}/v2/models/mlp`)).json())
    expect(meta).toEqual({
      name: 'mlp',
      versions: ['1'],
      platform: 'onnx',
      inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 384] }],
      outputs: [{ name: 'output', datatype: 'FP32', shape: [-1, 16] }],
    })
    expect((await fetch(`${worker.url}/v2/models/mlp/versions/1`)).status).toBe(200)
    expect((await fetch(`${worker.url}/v2/models/mlp/ready`)).status).toBe(200)
    expect((await fetch(`${worker.url}/v2/models/mlp/versions/1/ready`)).status).toBe(200)
  })

  it("serves the model configuration (Triton's model configuration extension) from what was decided at load", async () => {
    const server = (await (await fetch(`${worker.url}/v2`)).json()) as { extensions: string[] }
    expect(server.extensions).toEqual(
      expect.arrayContaining(['binary_tensor_data', 'model_configuration', 'parameters']),
    )
    const config = ModelConfigSchema.parse(await (await fetch(`${worker.url}/v2/models/mlp/config`)).json())
    expect(config).toMatchObject({
      name: 'mlp',
      platform: 'onnx',
      backend: 'onnxruntime',
      max_batch_size: 0,
      input: [{ name: 'input', data_type: 'TYPE_FP32', dims: [-1, 384] }],
      output: [{ name: 'output', data_type: 'TYPE_FP32', dims: [-1, 16] }],
      instance_group: [{ count: 2, kind: 'KIND_CPU' }],
    })
    expect(config.dynamic_batching).toBeUndefined()
    expect(config.parameters).toMatchObject({
      device: { string_value: 'CPU' },
      precision: { string_value: 'FP32' },
      preferred_devices: { string_value: 'NPU,CPU' },
    })
    // With batching, max_batch_size is the rows a merged inference carries and dims leave the batch out.
    const batched = ModelConfigSchema.parse(
      await (await fetch(`${worker.url}/v2/models/batched/versions/1/config`)).json(),
    )
    expect(batched).toMatchObject({
      max_batch_size: 8,
      input: [{ name: 'input', dims: [384] }],
      dynamic_batching: { preferred_batch_size: [4], max_queue_delay_microseconds: 2000 },
      parameters: { batching_mode: { string_value: 'dynamic' } },
    })
    expect((await fetch(`${worker.url}/v2/models/nope/config`)).status).toBe(404)
  })

  it('answers 404 for unknown models and versions, 400 for path tricks', async () => {
    const unknown = await fetch(`${worker.url}/v2/models/nope`)
    expect(unknown.status).toBe(404)
    expect(await unknown.json()).toMatchObject({ code: 'NPU_ERR_MODEL_NOT_FOUND' })
    const version = await fetch(`${worker.url}/v2/models/mlp/versions/7/ready`)
    expect(version.status).toBe(404)
    expect(await version.json()).toMatchObject({ code: 'NPU_ERR_VERSION_NOT_FOUND' })
    for (const name of ['..%2F..%2Fetc%2Fpasswd', '..', '.hidden', '%00mlp']) {
      const res = await fetch(`${worker.url}/v2/models/${name}/infer`, { method: 'POST', body: '{}' })
      expect([400, 404]).toContain(res.status)
      const body = (await res.json()) as { code: string }
      expect(body.code).toMatch(/^NPU_ERR_(BAD_MODEL_NAME|ROUTE_NOT_FOUND)$/)
    }
  })
})

describe('POST /v2/models/{name}/infer', () => {
  it('computes the MLP exactly as the independent reference does', async () => {
    const reference = loadMlpReference(join(repo.dir, 'mlp', '1', 'model.onnx'))
    const input = mlpInput(4)
    const res = await post('/v2/models/mlp/infer', { id: 'req-1', inputs: [input] })
    expect(res.status).toBe(200)
    const body = InferResponseSchema.parse(res.body)
    expect(body).toMatchObject({ model_name: 'mlp', model_version: '1', id: 'req-1' })
    const [output] = body.outputs
    expect(output).toMatchObject({ name: 'output', datatype: 'FP32', shape: [4, 16] })
    const expected = reference(input.data, 4)
    const got = output?.data as number[]
    expect(got).toHaveLength(64)
    for (let i = 0; i < 64; i++)
      expect(Math.abs((got[i] as number) - (expected[i] as number))).toBeLessThan(1e-5)
  })

  it('accepts nested data and a version in the path, and selects outputs', async () => {
    const flat = mlpInput(2)
    const nested = { ...flat, data: [flat.data.slice(0, 384), flat.data.slice(384)] }
    const a = await post('/v2/models/mlp/versions/1/infer', {
      inputs: [nested],
      outputs: [{ name: 'output' }],
    })
    const b = await post('/v2/models/mlp/infer', { inputs: [flat] })
    expect(a.status).toBe(200)
    expect(a.body.outputs).toEqual(b.body.outputs)
  })

  it('runs a real PP-OCR model (angle classifier) through KServe', async () => {
    const pixels = 3 * 48 * 192
    const res = await post('/v2/models/ppocr-cls/infer', {
      inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 3, 48, 192], data: new Array(pixels).fill(0.2) }],
    })
    expect(res.status).toBe(200)
    const [out] = InferResponseSchema.parse(res.body).outputs
    expect(out?.shape).toEqual([1, 2])
    const [p0, p1] = (out?.data ?? []) as number[]
    // Softmax over the two angle classes.
    expect((p0 as number) + (p1 as number)).toBeCloseTo(1, 4)
  })

  it.each([
    ['a wrong datatype', { inputs: [{ ...mlpInput(1), datatype: 'INT32' }] }, /inputs\[0\]\.datatype/],
    ['a wrong rank', { inputs: [{ ...mlpInput(1), shape: [384] }] }, /inputs\[0\]\.shape/],
    ['a wrong dimension', { inputs: [{ ...mlpInput(1), shape: [1, 383] }] }, /inputs\[0\]\.shape\[1\]/],
    [
      'a length mismatch',
      { inputs: [{ ...mlpInput(1), data: new Array(383).fill(0) }] },
      /inputs\[0\]\.data/,
    ],
    [
      'an unknown input',
      { inputs: [{ ...mlpInput(1), name: 'nope' }] },
      /inputs\[0\]\.name: unknown input "nope"/,
    ],
    [
      'a non-number element',
      { inputs: [{ ...mlpInput(1), data: ['x', ...new Array(383).fill(0)] }] },
      /inputs\[0\]\.data\[0\]/,
    ],
    ['an unknown output', { inputs: [mlpInput(1)], outputs: [{ name: 'logits' }] }, /outputs\[0\]\.name/],
    ['no inputs', { inputs: [] }, /inputs/],
    [
      'an empty output list',
      { inputs: [mlpInput(1)], outputs: [] },
      /outputs: must name at least one output/,
    ],
    ['BYTES tensors', { inputs: [{ ...mlpInput(1), datatype: 'BYTES' }] }, /BYTES/],
  ])('answers 400 naming the field for %s', async (_label, body, message) => {
    const res = await post('/v2/models/mlp/infer', body)
    expect(res.status).toBe(400)
    expect(res.body.code).toBe('NPU_ERR_BAD_INFER_REQUEST')
    expect(res.body.error).toMatch(message)
  })

  it('answers 400 for malformed JSON and 413 for an oversized body', async () => {
    const malformed = await post('/v2/models/mlp/infer', '{"inputs": [')
    expect(malformed.status).toBe(400)
    expect(malformed.body.code).toBe('NPU_ERR_MALFORMED_BODY')
    const huge = await post('/v2/models/mlp/infer', { inputs: [mlpInput(1)], pad: 'x'.repeat(2_100_000) })
    expect(huge.status).toBe(413)
    expect(huge.body.code).toBe('NPU_ERR_PAYLOAD_TOO_LARGE')
  })

  it('refuses at once with 503 and Retry-After when the model queue is full, and serves the rest', async () => {
    // instances 1 + max_queued 1: of three concurrent slow requests, the third is refused.
    const first = post('/v2/models/slow/infer', slowRequest(150_000))
    await waitUntil(async () => (await health()).load.active >= 1)
    const second = post('/v2/models/slow/infer', slowRequest(1))
    await waitUntil(async () => (await health()).load.queued >= 1)
    const third = await post('/v2/models/slow/infer', slowRequest(1))
    expect(third.status).toBe(503)
    expect(third.body.code).toBe('NPU_ERR_QUEUE_FULL')
    expect(Number(third.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
    expect((await first).status).toBe(200)
    expect((await second).status).toBe(200)
  })

  it('answers 504 when the deadline passes (header or KServe timeout parameter)', async () => {
    const viaHeader = await post('/v2/models/slow/infer', slowRequest(300_000), {
      'x-request-timeout-ms': '150',
    })
    expect(viaHeader.status).toBe(504)
    expect(viaHeader.body.code).toBe('NPU_ERR_DEADLINE_EXCEEDED')
    // The slot frees once the native call returns; the model then serves again.
    await waitUntil(async () => (await health()).load.active === 0, 60_000)
    const viaParam = await post('/v2/models/slow/infer', {
      ...slowRequest(300_000),
      parameters: { timeout: 100 },
    })
    expect(viaParam.status).toBe(504)
    await waitUntil(async () => (await health()).load.active === 0, 60_000)
    const bad = await post(
      '/v2/models/mlp/infer',
      { inputs: [mlpInput(1)] },
      { 'x-request-timeout-ms': 'soon' },
    )
    expect(bad.status).toBe(400)
  })

  it('drops queued work of a client that disconnects', async () => {
    const busy = post('/v2/models/slow/infer', slowRequest(150_000))
    await waitUntil(async () => (await health()).load.active >= 1)
    const controller = new AbortController()
    const gone = fetch(`${worker.url}/v2/models/slow/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(slowRequest(1)),
      signal: controller.signal,
    }).catch((e: Error) => e)
    await waitUntil(async () => (await health()).load.queued >= 1)
    controller.abort()
    await waitUntil(async () => (await health()).load.queued === 0)
    expect(await gone).toBeInstanceOf(Error)
    expect((await busy).status).toBe(200)
  })
})

async function health(): Promise<{ load: { active: number; queued: number } }> {
  return (await (await fetch(`${worker.url}/health`)).json()) as { load: { active: number; queued: number } }
}

async function waitUntil(check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs
  while (Date.now() < until) {
    if (await check()) return
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  throw new Error('condition not reached in time')
}
