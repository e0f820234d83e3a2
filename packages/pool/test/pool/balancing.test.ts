import { InferResponseSchema } from '@npu-fleet/protocol'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { NpuWorkerPool } from '../../src/pool.js'
import type { InferResult } from '../../src/pool-types.js'
import { captureLogger, type MlpFleet, mlpRequest, startMlpFleet, workerEntry } from '../helpers/fleet.js'

// Balancing against three real workers serving the generated MLP: priority first, least connections within a
// tier, spill to the next tier, capacity enforced with a bounded wait queue, equal workers sharing load.

let fleet: MlpFleet
const pools: NpuWorkerPool[] = []

beforeAll(async () => {
  fleet = await startMlpFleet(3)
})
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()))
})
afterAll(async () => {
  await fleet?.stop()
})

async function pool(workers: unknown[], loadBalancing: Record<string, unknown> = {}) {
  const p = new NpuWorkerPool({ config: { workers, load_balancing: loadBalancing }, logger: captureLogger() })
  pools.push(p)
  await p.initialize()
  return p
}
const url = (i: number) => fleet.workers[i]!.url
const countBy = (results: InferResult[]) => {
  const counts: Record<string, number> = {}
  for (const r of results) if (r.success) counts[r.workerId] = (counts[r.workerId] ?? 0) + 1
  return counts
}

describe('NpuWorkerPool balancing (real workers)', () => {
  it('returns the worker answer unchanged: the MLP output equals the independent reference', async () => {
    const p = await pool([workerEntry('a', url(0))])
    const request = mlpRequest(3, 7)
    const r = await p.infer('mlp', request)
    expect(r).toMatchObject({ success: true, workerId: 'a', attempts: 1 })
    if (!r.success) return
    const body = InferResponseSchema.parse(r.result)
    const got = body.outputs[0]?.data as number[]
    const expected = fleet.reference(request.inputs[0]!.data, 3)
    expect(got).toHaveLength(48)
    for (let i = 0; i < 48; i++) expect(Math.abs(got[i]! - expected[i]!)).toBeLessThan(1e-5)
    expect(r.durationMs).toBeGreaterThan(0)
  })

  it('sends everything to the highest priority tier while it has room', async () => {
    const p = await pool([
      workerEntry('low', url(0), { priority: 3 }),
      workerEntry('high', url(1), { priority: 9 }),
      workerEntry('mid', url(2), { priority: 6 }),
    ])
    const results: InferResult[] = []
    for (let i = 0; i < 20; i++) results.push(await p.infer('mlp', mlpRequest(1, i)))
    expect(countBy(results)).toEqual({ high: 20 })
  })

  it('uses least connections within a tier: concurrent tasks spread evenly over equal workers', async () => {
    const p = await pool([
      workerEntry('a', url(0), { max_concurrent_tasks: 4 }),
      workerEntry('b', url(1), { max_concurrent_tasks: 4 }),
    ])
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => p.infer('mlp', mlpRequest(1, i))))
    expect(countBy(results)).toEqual({ a: 4, b: 4 })
  })

  it('spills to the next tier when the top tier is full', async () => {
    const p = await pool([
      workerEntry('top', url(0), { priority: 10, max_concurrent_tasks: 2 }),
      workerEntry('next', url(1), { priority: 5, max_concurrent_tasks: 2 }),
      workerEntry('last', url(2), { priority: 1, max_concurrent_tasks: 2 }),
    ])
    const results = await Promise.all(Array.from({ length: 5 }, (_, i) => p.infer('mlp', mlpRequest(1, i))))
    expect(countBy(results)).toEqual({ top: 2, next: 2, last: 1 })
  })

  it('never exceeds max_concurrent_tasks: extra tasks wait in the bounded FIFO, and fail fast when it is full', async () => {
    const p = await pool([workerEntry('only', url(0), { max_concurrent_tasks: 1 })], { max_queued_tasks: 2 })
    const calls = Array.from({ length: 5 }, (_, i) => p.infer('mlp', mlpRequest(1, i)))
    // Three were admitted (1 running + 2 waiting) synchronously; the others were refused at once.
    expect(p.getStats()).toMatchObject({ activeTasks: 1, queuedTasks: 2 })
    expect(p.getWorkers()[0]?.activeTasks).toBe(1)
    const results = await Promise.all(calls)
    expect(results.map((r) => (r.success ? 'ok' : r.code))).toEqual([
      'ok',
      'ok',
      'ok',
      'POOL_ERR_QUEUE_FULL',
      'POOL_ERR_QUEUE_FULL',
    ])
    expect(results[3]).toMatchObject({ fallback: true, attempts: 0 })
    expect(p.getStats()).toMatchObject({ activeTasks: 0, queuedTasks: 0, totalTasksProcessed: 5 })
  })

  it('shares load between equal workers under sustained concurrency', async () => {
    const p = await pool(
      [
        workerEntry('a', url(0), { max_concurrent_tasks: 3 }),
        workerEntry('b', url(1), { max_concurrent_tasks: 3 }),
        workerEntry('c', url(2), { max_concurrent_tasks: 3 }),
      ],
      { max_queued_tasks: 1000 },
    )
    const results = await Promise.all(Array.from({ length: 300 }, (_, i) => p.infer('mlp', mlpRequest(1, i))))
    expect(results.every((r) => r.success)).toBe(true)
    const counts = countBy(results)
    expect(Object.keys(counts).sort()).toEqual(['a', 'b', 'c'])
    for (const n of Object.values(counts)) expect(n).toBeGreaterThanOrEqual(50)
    const stats = p.getStats()
    expect(stats).toMatchObject({ totalTasksProcessed: 300, successRate: 1, activeTasks: 0, queuedTasks: 0 })
    expect(stats.attempts).toMatchObject({ total: 300, failed: 0, retries: 0 })
    const workers = p.getWorkers()
    expect(workers.map((w) => w.totalRequests).reduce((a, b) => a + b)).toBe(300)
    for (const w of workers) expect(w.latency.p50).toBeGreaterThan(0)
  })

  it('routes by capability: a model no worker serves fails fast with POOL_ERR_UNSUPPORTED, nothing sent', async () => {
    const p = await pool([workerEntry('a', url(0))])
    const r = await p.infer('ppocr-det', mlpRequest())
    expect(r).toMatchObject({ success: false, code: 'POOL_ERR_UNSUPPORTED', fallback: true, attempts: 0 })
    expect(p.getWorkers()[0]?.totalRequests).toBe(0)
  })

  it('refuses malformed names and unserialisable data without sending anything', async () => {
    const p = await pool([workerEntry('a', url(0))])
    expect(await p.infer('../etc/passwd', {})).toMatchObject({ code: 'POOL_ERR_BAD_ARGUMENT', attempts: 0 })
    expect(await p.infer('mlp', {}, { version: 'x/y' })).toMatchObject({ code: 'POOL_ERR_BAD_ARGUMENT' })
    expect(await p.executeTask('ocr?x=1', {})).toMatchObject({ code: 'POOL_ERR_BAD_ARGUMENT' })
    const circular: Record<string, unknown> = {}
    circular.self = circular
    expect(await p.infer('mlp', circular)).toMatchObject({ code: 'POOL_ERR_BAD_ARGUMENT' })
    expect(await p.infer('mlp', mlpRequest(), { timeoutMs: -1 })).toMatchObject({
      code: 'POOL_ERR_BAD_ARGUMENT',
    })
    expect(p.getWorkers()[0]?.totalRequests).toBe(0)
  })

  it('calls a specific model version', async () => {
    const p = await pool([workerEntry('a', url(0))])
    const ok = await p.infer('mlp', mlpRequest(), { version: '1' })
    expect(ok).toMatchObject({ success: true })
    if (ok.success) expect(ok.result.model_version).toBe('1')
    expect(await p.infer('mlp', mlpRequest(), { version: '9' })).toMatchObject({
      success: false,
      code: 'POOL_ERR_WORKER_REJECTED',
      details: { status: 404, workerCode: 'NPU_ERR_VERSION_NOT_FOUND' },
    })
  })
})
