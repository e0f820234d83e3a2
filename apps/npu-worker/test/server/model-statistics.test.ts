import { cpSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { type ModelStatistics, ModelStatisticsResponseSchema } from '@npu-fleet/protocol'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freeLoopbackPort, InferenceClient } from '../helpers/grpc-client.js'
import {
  makeMlpModelRepository,
  startWorker,
  type TempModelRepository,
  type WorkerProcess,
} from '../helpers/worker-process.js'
import { addSlowModel, SLOW_MODEL_WIDTH } from './fixtures/slow-model.js'

// The statistics extension against a real worker process: counts equal the requests sent, queue and compute
// times are non-zero and add up within each request's time in the worker (itself within the wall time the
// client measured), dynamic batching shows in execution_count and batch_stats, a request that missed its
// deadline counts as a failure, /metrics counts the same requests, and gRPC answers what REST answers.

const GENEROUS = { 'x-request-timeout-ms': '60000' }
const PLAIN = 12
const BATCHED = 8

let repo: TempModelRepository
let worker: WorkerProcess
let client: InferenceClient

beforeAll(async () => {
  repo = makeMlpModelRepository()
  cpSync(join(repo.dir, 'mlp'), join(repo.dir, 'batched'), { recursive: true })
  // A long batching delay: the concurrent requests below are merged into fewer executions.
  writeFileSync(
    join(repo.dir, 'batched', 'model.yaml'),
    'devices: [CPU]\ninstances: 1\nbatching: { max_batch_size: 4, max_queue_delay_us: 200000 }\n',
  )
  addSlowModel(repo.dir)
  writeFileSync(join(repo.dir, 'slow', 'model.yaml'), 'devices: [CPU]\ninstances: 1\nthreads: 1\n')
  const grpcPort = await freeLoopbackPort()
  worker = await startWorker({
    modelsDir: repo.dir,
    waitFor: 'ready',
    args: ['--grpc-port', String(grpcPort)],
  })
  client = new InferenceClient(`127.0.0.1:${grpcPort}`)
})

afterAll(async () => {
  client?.close()
  await worker?.stop()
  repo?.cleanup()
})

const mlpRequest = (seed: number) => ({
  inputs: [
    {
      name: 'input',
      datatype: 'FP32',
      shape: [1, 384],
      data: Array.from({ length: 384 }, (_, i) => Math.sin(i + seed) / 2),
    },
  ],
})

const slowRequest = (iterations: number) => ({
  inputs: [
    { name: 'n', datatype: 'INT64', shape: [1], data: [iterations] },
    { name: 'x', datatype: 'FP32', shape: [1, SLOW_MODEL_WIDTH], data: new Array(SLOW_MODEL_WIDTH).fill(1) },
  ],
})

/** Posts an inference; resolves with its status and the wall time the client saw, in ns. */
async function infer(model: string, body: unknown, headers: Record<string, string> = GENEROUS) {
  const started = process.hrtime.bigint()
  const res = await fetch(`${worker.url}/v2/models/${model}/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  })
  await res.arrayBuffer()
  return { status: res.status, wallNs: Number(process.hrtime.bigint() - started) }
}

async function stats(path = '/v2/models/stats') {
  const res = await fetch(`${worker.url}${path}`)
  return { status: res.status, body: (await res.json()) as Record<string, unknown> }
}

async function statsOf(name: string): Promise<ModelStatistics> {
  const { body } = await stats(`/v2/models/${name}/versions/1/stats`)
  const [entry] = ModelStatisticsResponseSchema.parse(body).model_stats
  if (!entry) throw new Error(`no statistics for ${name}`)
  return entry
}

const computeNs = (s: ModelStatistics['inference_stats']) =>
  s.queue.ns + s.compute_input.ns + s.compute_infer.ns + s.compute_output.ns

describe('statistics extension', () => {
  const wall = { mlp: 0, batched: 0 }

  it('starts at zero for every model, in the statistics shape, and is listed in the server extensions', async () => {
    const { status, body } = await stats()
    expect(status).toBe(200)
    const all = ModelStatisticsResponseSchema.parse(body).model_stats
    expect(all.map((m) => m.name)).toEqual(['batched', 'mlp', 'slow'])
    for (const m of all) {
      expect(m).toMatchObject({ version: '1', inference_count: 0, execution_count: 0, last_inference: 0 })
      expect(m.batch_stats).toEqual([])
    }
    const server = (await (await fetch(`${worker.url}/v2`)).json()) as { extensions: string[] }
    expect(server.extensions).toContain('statistics')
  })

  it('counts every request sent, with queue and compute times that add up', async () => {
    const before = Date.now()
    const plain = await Promise.all(Array.from({ length: PLAIN }, (_, k) => infer('mlp', mlpRequest(k))))
    const batched = await Promise.all(
      Array.from({ length: BATCHED }, (_, k) => infer('batched', mlpRequest(k))),
    )
    for (const r of [...plain, ...batched]) expect(r.status).toBe(200)
    wall.mlp = plain.reduce((sum, r) => sum + r.wallNs, 0)
    wall.batched = batched.reduce((sum, r) => sum + r.wallNs, 0)

    const mlp = await statsOf('mlp')
    expect(mlp.inference_count).toBe(PLAIN)
    expect(mlp.execution_count).toBe(PLAIN)
    expect(mlp.last_inference).toBeGreaterThanOrEqual(before)
    const s = mlp.inference_stats
    for (const phase of ['success', 'queue', 'compute_input', 'compute_infer', 'compute_output'] as const) {
      expect(s[phase].count, phase).toBe(PLAIN)
    }
    expect(s.fail).toEqual({ count: 0, ns: 0 })
    expect(s.queue.ns).toBeGreaterThan(0)
    expect(s.compute_infer.ns).toBeGreaterThan(0)
    // Each request's phases lie within its time in the worker, which lies within what the client waited.
    expect(computeNs(s)).toBeLessThanOrEqual(s.success.ns)
    expect(s.success.ns).toBeLessThanOrEqual(wall.mlp)
    expect(mlp.batch_stats).toEqual([
      expect.objectContaining({ batch_size: 1, compute_infer: { count: PLAIN, ns: expect.any(Number) } }),
    ])
    expect(mlp.batch_stats[0]?.compute_infer.ns ?? -1).toBe(s.compute_infer.ns)
  })

  it('shows dynamic batching: fewer executions than inferences, each batch size with its executions', async () => {
    const batched = await statsOf('batched')
    const s = batched.inference_stats
    expect(batched.inference_count).toBe(BATCHED)
    expect(s.success.count).toBe(BATCHED)
    expect(batched.execution_count).toBeLessThan(BATCHED)
    const executions = batched.batch_stats.reduce((sum, b) => sum + b.compute_infer.count, 0)
    expect(executions).toBe(batched.execution_count)
    expect(batched.batch_stats.reduce((sum, b) => sum + b.batch_size * b.compute_infer.count, 0)).toBe(
      BATCHED,
    )
    for (const b of batched.batch_stats) expect(b.batch_size).toBeLessThanOrEqual(4)
    // A merged request is charged its whole batch's compute: per request, never more than its time in the worker.
    expect(computeNs(s)).toBeLessThanOrEqual(s.success.ns)
    expect(s.success.ns).toBeLessThanOrEqual(wall.batched)
    expect(s.compute_infer.ns).toBeGreaterThan(0)
  })

  it('counts a request that missed its deadline in the queue as a failure', async () => {
    const running = infer('slow', slowRequest(40_000))
    // The slot is taken once the first request has started: only then can the second wait behind it.
    await waitFor(async () => {
      const metrics = await (await fetch(`${worker.url}/metrics`)).text()
      return /npu_worker_active_inferences\{model="slow",version="1"\} 1/.test(metrics)
    })
    const late = await infer('slow', slowRequest(1), { 'x-request-timeout-ms': '50' })
    expect(late.status).toBe(504)
    expect((await running).status).toBe(200)
    const slow = await statsOf('slow')
    expect(slow.inference_stats.fail.count).toBe(1)
    expect(slow.inference_stats.fail.ns).toBeGreaterThan(0)
    expect(slow.inference_stats.success.count).toBe(1)
    expect(slow.inference_count).toBe(1)
  })

  it('counts what /metrics counts', async () => {
    const metrics = await (await fetch(`${worker.url}/metrics`)).text()
    const value = (pattern: RegExp) => Number(metrics.match(pattern)?.[1])
    expect(value(/npu_worker_queue_wait_seconds_count\{model="mlp",version="1"\} (\d+)/)).toBe(PLAIN)
    expect(value(/npu_worker_inference_batch_size_sum\{model="batched",version="1"\} (\d+)/)).toBe(BATCHED)
    const executions = (await statsOf('batched')).execution_count
    expect(value(/npu_worker_inference_batch_size_count\{model="batched",version="1"\} (\d+)/)).toBe(
      executions,
    )
  })

  it('answers for one model, for each version, and 404 for an unknown one', async () => {
    const byName = await stats('/v2/models/mlp/stats')
    expect(ModelStatisticsResponseSchema.parse(byName.body).model_stats).toEqual([await statsOf('mlp')])
    const unknown = await stats('/v2/models/nope/stats')
    expect(unknown).toMatchObject({ status: 404, body: { code: 'NPU_ERR_MODEL_NOT_FOUND' } })
    const version = await stats('/v2/models/mlp/versions/7/stats')
    expect(version.status).toBe(404)
  })

  it('answers the same over gRPC ModelStatistics (uint64 as decimal strings)', async () => {
    const result = await client.call<{ model_stats: Array<Record<string, unknown>> }>(
      'ModelStatistics',
      { name: 'mlp', version: '' },
      { deadlineMs: 30_000 },
    )
    if (!result.ok) throw new Error(result.error.message)
    const rest = await statsOf('mlp')
    const [grpc] = result.response.model_stats
    expect(grpc).toMatchObject({
      name: 'mlp',
      version: '1',
      inference_count: String(rest.inference_count),
      execution_count: String(rest.execution_count),
      last_inference: String(rest.last_inference),
      inference_stats: {
        success: {
          count: String(rest.inference_stats.success.count),
          ns: String(rest.inference_stats.success.ns),
        },
        queue: { count: String(rest.inference_stats.queue.count), ns: String(rest.inference_stats.queue.ns) },
      },
      batch_stats: [{ batch_size: '1' }],
    })
    const all = await client.call<{ model_stats: unknown[] }>('ModelStatistics', {}, { deadlineMs: 30_000 })
    expect(all.ok && all.response.model_stats.length).toBe(3)
    const missing = await client.call('ModelStatistics', { name: 'nope' }, { deadlineMs: 30_000 })
    expect(missing.ok).toBe(false)
  })
})

/** Polls `check` until it holds (the deadline only bounds a broken run; it never decides the outcome). */
async function waitFor(check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 60_000
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not reached')
    await new Promise((r) => setTimeout(r, 10))
  }
}
