import { ErrorBodySchema, HealthResponseSchema } from '@npu-fleet/protocol'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  makeMlpModelRepository,
  startWorker,
  type TempModelRepository,
  type WorkerProcess,
} from '../helpers/worker-process.js'

const TOKEN = 'test-token-0123456789abcdef'
const BODY_LIMIT = 16 * 1024

const inferBody = JSON.stringify({
  inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 384], data: new Array(384).fill(0.25) }],
})

async function errorOf(response: Response) {
  return ErrorBodySchema.parse(await response.json())
}

let repository: TempModelRepository
let open: WorkerProcess
let guarded: WorkerProcess

beforeAll(async () => {
  repository = makeMlpModelRepository()
  // One worker without a token (auth off), one with a token from the environment; both with a small body limit.
  ;[open, guarded] = await Promise.all([
    startWorker({
      modelsDir: repository.dir,
      env: { NPU_WORKER_BODY_LIMIT_BYTES: String(BODY_LIMIT) },
      waitFor: 'ready',
    }),
    startWorker({ modelsDir: repository.dir, env: { NPU_WORKER_TOKEN: TOKEN }, waitFor: 'ready' }),
  ])
})

afterAll(async () => {
  await Promise.all([open?.stop(), guarded?.stop()])
  repository?.cleanup()
})

function infer(worker: WorkerProcess, headers: Record<string, string> = {}, body = inferBody) {
  return fetch(`${worker.url}/v2/models/mlp/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
  })
}

describe('auth', () => {
  it('is off without a token: inference needs no header', async () => {
    expect((await infer(open)).status).toBe(200)
  })

  it('with a token: inference without it or with a wrong one is 401 with WWW-Authenticate: Bearer', async () => {
    const attempts: Record<string, string>[] = [
      {},
      { authorization: 'Bearer wrong' },
      { authorization: `Basic ${TOKEN}` },
    ]
    for (const headers of attempts) {
      const response = await infer(guarded, headers)
      expect(response.status).toBe(401)
      expect(response.headers.get('www-authenticate')).toMatch(/^Bearer/)
      expect(await errorOf(response)).toEqual({
        error: 'Missing or invalid bearer token',
        code: 'NPU_ERR_UNAUTHORIZED',
      })
    }
    // A token that only shares a prefix, or is longer, is just as wrong.
    expect((await infer(guarded, { authorization: `Bearer ${TOKEN.slice(0, -1)}` })).status).toBe(401)
    expect((await infer(guarded, { authorization: `Bearer ${TOKEN}x` })).status).toBe(401)
  })

  it('with a token: the right bearer token is accepted', async () => {
    const response = await infer(guarded, { authorization: `Bearer ${TOKEN}` })
    expect(response.status).toBe(200)
    const body = (await response.json()) as { outputs: Array<{ name: string; shape: number[] }> }
    expect(body.outputs[0]).toMatchObject({ name: 'output', shape: [1, 16] })
  })

  it('with a token: probes and scrapers stay open; everything else is guarded', async () => {
    for (const path of ['/health', '/v2/health/live', '/v2/health/ready', '/metrics']) {
      expect((await fetch(`${guarded.url}${path}`)).status, path).toBe(200)
    }
    for (const path of ['/v2', '/v2/models/mlp', '/v2/models/mlp/ready', '/health/../v2/models/mlp']) {
      expect((await fetch(`${guarded.url}${path}`)).status, path).toBe(401)
    }
  })
})

describe('error shapes', () => {
  it('unknown route: 404 NPU_ERR_ROUTE_NOT_FOUND naming method and path', async () => {
    const response = await fetch(`${open.url}/v2/nothing-here?x=1`, { method: 'DELETE' })
    expect(response.status).toBe(404)
    expect(await errorOf(response)).toEqual({
      error: 'Route DELETE /v2/nothing-here not found',
      code: 'NPU_ERR_ROUTE_NOT_FOUND',
    })
    // Under /v1 (outside the task API) the same error takes OpenAI's shape, which OpenAI's SDKs parse.
    const openAi = await fetch(`${open.url}/v1/nothing-here?x=1`, { method: 'DELETE' })
    expect(await openAi.json()).toEqual({
      error: {
        message: 'Route DELETE /v1/nothing-here not found',
        type: 'invalid_request_error',
        param: null,
        code: 'NPU_ERR_ROUTE_NOT_FOUND',
      },
    })
  })

  it('malformed JSON: 400 NPU_ERR_MALFORMED_BODY', async () => {
    const response = await infer(open, {}, '{"inputs": [')
    expect(response.status).toBe(400)
    expect((await errorOf(response)).code).toBe('NPU_ERR_MALFORMED_BODY')
  })

  it('empty JSON body: 400 NPU_ERR_MALFORMED_BODY', async () => {
    const response = await infer(open, {}, '')
    expect(response.status).toBe(400)
    expect((await errorOf(response)).code).toBe('NPU_ERR_MALFORMED_BODY')
  })

  it('body over body_limit_bytes: 413 NPU_ERR_PAYLOAD_TOO_LARGE naming the limit', async () => {
    const big = JSON.stringify({
      inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 384], data: new Array(BODY_LIMIT).fill(1) }],
    })
    const response = await infer(open, {}, big)
    expect(response.status).toBe(413)
    expect(await errorOf(response)).toEqual({
      error: `Request body is larger than ${BODY_LIMIT} bytes`,
      code: 'NPU_ERR_PAYLOAD_TOO_LARGE',
    })
  })

  it('unsupported content type: 415 NPU_ERR_UNSUPPORTED_MEDIA_TYPE', async () => {
    const response = await infer(open, { 'content-type': 'application/xml' }, '<x/>')
    expect(response.status).toBe(415)
    const body = await errorOf(response)
    expect(body.code).toBe('NPU_ERR_UNSUPPORTED_MEDIA_TYPE')
    expect(body.error).toContain('application/xml')
  })

  it('undecodable URL: 400 NPU_ERR_BAD_REQUEST, not a framework-shaped body', async () => {
    const response = await fetch(`${open.url}/v2/models/%E0%A4%A/infer`)
    expect(response.status).toBe(400)
    expect((await errorOf(response)).code).toBe('NPU_ERR_BAD_REQUEST')
  })

  it('bad input names the field', async () => {
    const response = await infer(
      open,
      {},
      JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 384] }] }),
    )
    expect(response.status).toBe(400)
    const body = await errorOf(response)
    expect(body.code).toBe('NPU_ERR_BAD_INFER_REQUEST')
    expect(body.error).toContain('inputs[0]')
  })

  it('the worker survives all of the above', async () => {
    const response = await fetch(`${open.url}/health`)
    expect(response.status).toBe(200)
    expect(HealthResponseSchema.parse(await response.json()).status).toBe('degraded')
  })
})

describe('request ids', () => {
  it('echoes a plain x-request-id and generates one otherwise', async () => {
    const given = await fetch(`${open.url}/health`, { headers: { 'x-request-id': 'pool-42.a:b' } })
    expect(given.headers.get('x-request-id')).toBe('pool-42.a:b')
    const generated = await fetch(`${open.url}/health`)
    expect(generated.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/)
  })

  it('replaces an id that could inject into logs', async () => {
    const response = await fetch(`${open.url}/health`, { headers: { 'x-request-id': 'a b"c' } })
    expect(response.headers.get('x-request-id')).not.toBe('a b"c')
    expect(response.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/)
  })
})

describe('GET /metrics', () => {
  it('exposes request, inference, model and process metrics in the Prometheus text format', async () => {
    for (let i = 0; i < 3; i++) expect((await infer(open)).status).toBe(200)
    await fetch(`${open.url}/v2/models/mlp-unknown-${Date.now()}/ready`)
    const response = await fetch(`${open.url}/metrics`)
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toMatch(/^text\/plain/)
    const text = await response.text()
    // Requests by route pattern, never by raw URL (bounded label values).
    expect(text).toMatch(
      /npu_worker_http_requests_total\{route="\/v2\/models\/:name\/infer",method="POST",status="200"\} \d+/,
    )
    expect(text).toMatch(
      /npu_worker_http_request_duration_seconds_bucket\{le="[^"]+",route="\/v2\/models\/:name\/infer"/,
    )
    expect(text).not.toContain('mlp-unknown-')
    // Inference time by model, backend and device.
    expect(text).toMatch(
      /npu_worker_inference_duration_seconds_count\{model="mlp",version="1",backend="onnxruntime",device="CPU",outcome="ok"\} ([3-9]|\d{2,})/,
    )
    // Model state, fallback and queues, collected at scrape time.
    expect(text).toContain('npu_worker_model_ready{model="mlp",version="1"} 1')
    expect(text).toContain('npu_worker_model_fallback{model="mlp",version="1"} 1')
    expect(text).toContain('npu_worker_queue_depth{model="mlp",version="1"} 0')
    expect(text).toContain('npu_worker_active_inferences{model="mlp",version="1"} 0')
    // Process metrics.
    expect(text).toMatch(/npu_worker_process_cpu_user_seconds_total \d/)
    expect(text).toMatch(/npu_worker_nodejs_eventloop_lag_seconds \d/)
  })
})

describe('test hooks', () => {
  it('are absent unless enabled', async () => {
    const response = await fetch(`${open.url}/_test/freeze`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"ms": 1}',
    })
    expect(response.status).toBe(404)
    expect(open.logs()).not.toContain('TEST HOOKS ENABLED')
  })
})
