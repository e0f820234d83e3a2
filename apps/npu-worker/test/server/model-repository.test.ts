import { cpSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type HealthResponse, RepositoryIndexResponseSchema } from '@npu-fleet/protocol'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freeLoopbackPort, InferenceClient } from '../helpers/grpc-client.js'
import {
  makeMlpModelRepository,
  startWorker,
  type TempModelRepository,
  type WorkerProcess,
} from '../helpers/worker-process.js'
import { addSlowModel, SLOW_MODEL_WIDTH } from './fixtures/slow-model.js'

// The model repository extension against real worker processes: the index, load and unload over REST and
// gRPC with the bearer token, unload while requests are in flight (none fails, new ones get 404), a broken
// model.yaml that leaves the running version serving, and model_control: poll picking up a model moved into
// the folder and one removed from it.

const TOKEN = 'repository-test-token-0123456789'
const AUTH = { authorization: `Bearer ${TOKEN}` }

const mlpBody = JSON.stringify({
  inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 384], data: new Array(384).fill(0.25) }],
})
const slowBody = (iterations: number) =>
  JSON.stringify({
    inputs: [
      { name: 'n', datatype: 'INT64', shape: [1], data: [iterations] },
      {
        name: 'x',
        datatype: 'FP32',
        shape: [1, SLOW_MODEL_WIDTH],
        data: new Array(SLOW_MODEL_WIDTH).fill(1),
      },
    ],
  })

async function post(worker: WorkerProcess, path: string, body = '', headers: Record<string, string> = AUTH) {
  const res = await fetch(`${worker.url}${path}`, {
    method: 'POST',
    // A POST without a body carries no content type, as curl -X POST and Triton's clients send it.
    headers: {
      ...(body ? { 'content-type': 'application/json' } : {}),
      'x-request-timeout-ms': '60000',
      ...headers,
    },
    ...(body ? { body } : {}),
  })
  const text = await res.text()
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : null }
}

const health = async (worker: WorkerProcess) =>
  (await (await fetch(`${worker.url}/health`)).json()) as HealthResponse

/** Polls until `check` holds (the deadline only bounds a broken run). */
async function eventually(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 60_000
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`never happened: ${what}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

describe('model_control: explicit', () => {
  let repo: TempModelRepository
  let worker: WorkerProcess
  let client: InferenceClient

  beforeAll(async () => {
    repo = makeMlpModelRepository()
    addSlowModel(repo.dir)
    writeFileSync(join(repo.dir, 'slow', 'model.yaml'), 'devices: [CPU]\ninstances: 1\nthreads: 1\n')
    const config = join(repo.dir, 'worker.yaml')
    writeFileSync(config, 'model_control: explicit\nshutdown_grace_ms: 120000\n')
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

  it('needs the bearer token on every repository route', async () => {
    for (const path of [
      '/v2/repository/index',
      '/v2/repository/models/mlp/load',
      '/v2/repository/models/mlp/unload',
    ]) {
      expect((await post(worker, path, '', {})).status, path).toBe(401)
    }
    const grpc = await client.call('RepositoryIndex', {}, { deadlineMs: 30_000 })
    expect(grpc.ok).toBe(false)
  })

  it('indexes every model in the folder with its state', async () => {
    writeFileSync(join(repo.dir, 'notes.txt'), 'not a model')
    const { status, body } = await post(worker, '/v2/repository/index')
    expect(status).toBe(200)
    expect(RepositoryIndexResponseSchema.parse(body)).toEqual([
      { name: 'mlp', version: '1', state: 'ready', reason: '' },
      { name: 'slow', version: '1', state: 'ready', reason: '' },
    ])
    const grpc = await client.call<{ models: unknown[] }>(
      'RepositoryIndex',
      {},
      { deadlineMs: 30_000, authorization: AUTH.authorization },
    )
    expect(grpc.ok && grpc.response.models).toEqual([
      { name: 'mlp', version: '1', state: 'ready', reason: '' },
      { name: 'slow', version: '1', state: 'ready', reason: '' },
    ])
  })

  it('unloads while requests are in flight: none fails, new ones get 404, the index says unavailable', async () => {
    // One running, two waiting behind it on the single slot.
    const inFlight = [1, 2, 3].map(() => post(worker, '/v2/models/slow/infer', slowBody(15_000)))
    await eventually(async () => {
      const metrics = await (await fetch(`${worker.url}/metrics`)).text()
      return /npu_worker_queue_depth\{model="slow",version="1"\} 2/.test(metrics)
    }, 'two requests queued behind the first')
    const unload = post(worker, '/v2/repository/models/slow/unload')
    // Out of the registry at once: a new request is refused while the old ones finish.
    await eventually(
      async () => (await post(worker, '/v2/models/slow/infer', slowBody(1))).status === 404,
      '404 for new requests',
    )
    for (const r of await Promise.all(inFlight)) expect(r.status).toBe(200)
    expect((await unload).status).toBe(200)
    const index = RepositoryIndexResponseSchema.parse((await post(worker, '/v2/repository/index')).body)
    expect(index.find((e) => e.name === 'slow')).toEqual({
      name: 'slow',
      state: 'unavailable',
      reason: 'not loaded',
    })
    expect((await health(worker)).models.map((m) => m.name)).toEqual(['mlp'])
  })

  it('loads it again over gRPC; /health and capabilities follow', async () => {
    const loaded = await client.call(
      'RepositoryModelLoad',
      { model_name: 'slow' },
      { deadlineMs: 60_000, authorization: AUTH.authorization },
    )
    expect(loaded.ok).toBe(true)
    const body = await health(worker)
    expect(body.capabilities.models).toContain('slow')
    expect((await post(worker, '/v2/models/slow/infer', slowBody(1))).status).toBe(200)
    const unknown = await post(worker, '/v2/repository/models/nope/load')
    expect(unknown).toMatchObject({ status: 404, body: { code: 'NPU_ERR_MODEL_NOT_FOUND' } })
  })

  it('refuses a broken model.yaml naming the key, and the running version keeps serving', async () => {
    writeFileSync(join(repo.dir, 'mlp', 'model.yaml'), 'devices: [CPU]\ninstances: lots\n')
    const refused = await post(worker, '/v2/repository/models/mlp/load')
    expect(refused.status).toBe(400)
    expect(refused.body).toMatchObject({ code: 'NPU_ERR_MODEL_LOAD_FAILED' })
    expect(String(refused.body?.error)).toMatch(/mlp\/model\.yaml: instances/)
    expect((await post(worker, '/v2/models/mlp/infer', mlpBody)).status).toBe(200)
    expect((await health(worker)).models.find((m) => m.name === 'mlp')?.state).toBe('ready')
    // Fixed, it reloads: the new load replaces the old one without a gap.
    writeFileSync(join(repo.dir, 'mlp', 'model.yaml'), 'devices: [CPU]\ninstances: 1\n')
    expect((await post(worker, '/v2/repository/models/mlp/load')).status).toBe(200)
    expect((await health(worker)).models.find((m) => m.name === 'mlp')?.parallelism?.configured).toBe(1)
  })
})

describe('model_control: none (the default)', () => {
  it('refuses load and unload with 409, and still answers the index', async () => {
    const repo = makeMlpModelRepository()
    try {
      const worker = await startWorker({ modelsDir: repo.dir, waitFor: 'ready' })
      const load = await post(worker, '/v2/repository/models/mlp/unload', '', {})
      expect(load).toMatchObject({ status: 409, body: { code: 'NPU_ERR_MODEL_CONTROL_DISABLED' } })
      expect((await post(worker, '/v2/repository/index', '', {})).status).toBe(200)
      expect((await post(worker, '/v2/models/mlp/infer', mlpBody, {})).status).toBe(200)
    } finally {
      repo.cleanup()
    }
  })
})

describe('model_control: poll', () => {
  it('picks up a model moved into the folder and one removed from it', async () => {
    const repo = makeMlpModelRepository()
    const staging = mkdtempSync(join(tmpdir(), 'npu-worker-staging-'))
    try {
      const config = join(repo.dir, '..', `${repo.dir.split('/').pop()}-worker.yaml`)
      writeFileSync(config, 'model_control: poll\nmodel_poll_interval_ms: 200\n')
      const worker = await startWorker({ modelsDir: repo.dir, waitFor: 'ready', args: ['--config', config] })
      // Copied next to the folder, then moved in: the poll never sees half a model.
      cpSync(join(repo.dir, 'mlp'), join(staging, 'second'), { recursive: true })
      renameSync(join(staging, 'second'), join(repo.dir, 'second'))
      await eventually(
        async () => (await health(worker)).capabilities.models.includes('second'),
        'second served',
      )
      expect((await post(worker, '/v2/models/second/infer', mlpBody, {})).status).toBe(200)

      rmSync(join(repo.dir, 'second'), { recursive: true })
      await eventually(
        async () => !(await health(worker)).models.some((m) => m.name === 'second'),
        'second gone',
      )
      expect((await post(worker, '/v2/models/second/infer', mlpBody, {})).status).toBe(404)
      expect((await post(worker, '/v2/models/mlp/infer', mlpBody, {})).status).toBe(200)
      rmSync(config, { force: true })
    } finally {
      rmSync(staging, { recursive: true, force: true })
      repo.cleanup()
    }
  })
})
