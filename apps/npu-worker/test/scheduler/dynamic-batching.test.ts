import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { LoadedModel } from '../../src/backends/backend.js'
import { OnnxRuntimeBackend } from '../../src/backends/onnxruntime.js'
import type { Tensor } from '../../src/backends/tensor.js'
import { ErrCancelled, ErrDeadlineExceeded } from '../../src/errors.js'
import { batchingPolicy } from '../../src/models/batching-policy.js'
import { type ModelManifest, ModelManifestSchema } from '../../src/models/model-manifest.js'
import { RegisteredModel } from '../../src/models/registered-model.js'
import { batchShape, mergeInputs, selectBatch, splitOutputs } from '../../src/scheduler/dynamic-batcher.js'
import { ModelQueue } from '../../src/scheduler/model-queue.js'
import { serveModel } from '../helpers/serve-model.js'
import { DIST_THREAD_ENTRIES } from '../helpers/thread-entries.js'
import { GENERATED_MODELS_DIR } from '../helpers/worker-process.js'

// Dynamic batching: the merge/split logic, the policy a model gets, and the queue's behaviour with a real
// ONNX Runtime model (batched outputs identical to unbatched ones) and with a controllable model for the
// per-request guarantees (deadline, cancellation, error isolation inside a batch).

const fp32 = (rows: number, width: number, fill: (i: number) => number): Tensor => ({
  datatype: 'FP32',
  shape: [rows, width],
  data: Float32Array.from({ length: rows * width }, (_, i) => fill(i)),
})

const manifest = (yaml: Record<string, unknown>): ModelManifest => ModelManifestSchema.parse(yaml)

function registered(model: LoadedModel, m: ModelManifest): RegisteredModel {
  const r = new RegisteredModel({ name: 'm', version: '1', manifest: m, modelPath: '/m.onnx', modelDir: '/' })
  return serveModel(r, model)
}

describe('dynamic batcher (pure logic)', () => {
  it('keys requests by input names, datatypes, per-row shapes and outputs', () => {
    const a = batchShape({ x: fp32(2, 4, () => 0) }, undefined)
    const b = batchShape({ x: fp32(5, 4, () => 0) }, undefined)
    const c = batchShape({ x: fp32(1, 3, () => 0) }, undefined)
    const d = batchShape({ x: fp32(1, 4, () => 0) }, ['y'])
    expect(a.rows).toBe(2)
    expect(a.key).toBe(b.key)
    expect(c.key).not.toBe(a.key)
    expect(d.key).not.toBe(a.key)
    // Inputs that disagree on the batch size cannot share an inference.
    expect(batchShape({ x: fp32(2, 4, () => 0), z: fp32(3, 4, () => 0) }, undefined).rows).toBe(0)
  })

  it('selects the oldest request and later compatible ones that fit, keeping others in place', () => {
    const job = (rows: number, key: string) => ({ inputs: {}, outputNames: undefined, rows, key })
    const waiting = [job(2, 'a'), job(1, 'b'), job(3, 'a'), job(4, 'a'), job(1, 'a')]
    expect(selectBatch(waiting, 6)).toEqual({ indexes: [0, 2, 4], rows: 6 })
    expect(selectBatch(waiting, 100)).toEqual({ indexes: [0, 2, 3, 4], rows: 10 })
    expect(selectBatch([job(0, ''), job(1, 'a')], 8)).toEqual({ indexes: [0], rows: 0 })
  })

  it('merges, pads and splits back row for row', () => {
    const jobs = [
      { inputs: { x: fp32(1, 2, (i) => i) }, outputNames: undefined, rows: 1, key: 'k' },
      { inputs: { x: fp32(2, 2, (i) => 10 + i) }, outputNames: undefined, rows: 2, key: 'k' },
    ]
    const merged = mergeInputs(jobs, 4).x as Tensor
    expect(merged.shape).toEqual([4, 2])
    expect([...merged.data]).toEqual([0, 1, 10, 11, 12, 13, 0, 0])
    const parts = splitOutputs({ y: merged }, [1, 2], 4)
    expect([...(parts[0]?.y?.data ?? [])]).toEqual([0, 1])
    expect([...(parts[1]?.y?.data ?? [])]).toEqual([10, 11, 12, 13])
    expect(() => splitOutputs({ y: fp32(1, 2, () => 0) }, [1, 2], 3)).toThrow(
      /does not batch along dimension 0/,
    )
  })

  it('decides the policy from the loaded shapes and says why batching is off', () => {
    const base = { backend: 'openvino', device: 'NPU', outputs: [], parallelism: 1, compiledBatchSizes: null }
    const m = manifest({ batching: { max_batch_size: 16, max_queue_delay_us: 800 } })
    const dynamic = {
      ...base,
      inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 4] }],
    } as unknown as LoadedModel
    const padded = {
      ...base,
      inputs: [{ name: 'x', datatype: 'FP32', shape: [8, 4] }],
    } as unknown as LoadedModel
    const single = {
      ...base,
      inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4] }],
    } as unknown as LoadedModel
    expect(batchingPolicy(m, dynamic).policy).toMatchObject({ mode: 'dynamic', maxRows: 16, maxDelayMs: 0.8 })
    expect(batchingPolicy(m, padded).policy).toMatchObject({ mode: 'padded', maxRows: 8, paddedRows: 8 })
    expect(batchingPolicy(m, single)).toMatchObject({
      policy: null,
      reason: expect.stringMatching(/batch 1 on NPU/),
    })
    expect(batchingPolicy(manifest({}), dynamic)).toEqual({ policy: null, reason: null })
  })
})

describe('ModelQueue with batching, on the real MLP through ONNX Runtime', () => {
  const backend = new OnnxRuntimeBackend({ threadEntry: DIST_THREAD_ENTRIES.onnxruntime })
  let model: LoadedModel
  beforeAll(async () => {
    model = await backend.load({
      name: 'mlp',
      version: '1',
      modelPath: join(GENERATED_MODELS_DIR, 'mlp', '1', 'model.onnx'),
      device: 'CPU',
      threads: 1,
      instances: 1,
      performanceHint: 'LATENCY',
      cacheDir: null,
      inferTimeoutMs: 60_000,
    })
  })
  afterAll(() => backend.close())

  it('gives every request exactly the output it gets unbatched, and merges concurrent ones', async () => {
    const rows = [1, 3, 1, 2, 1, 1, 4, 1, 2, 1, 1, 1, 3, 1, 1, 1]
    const inputs = rows.map((r, k) => ({ input: fp32(r, 384, (i) => Math.sin(i * 0.37 + k) / 2) }))
    const plain = new ModelQueue(registered(model, manifest({})), 64)
    const unbatched = await Promise.all(inputs.map((x) => plain.run(x)))

    const runs: number[] = []
    const batchedQueue = new ModelQueue(
      registered(model, manifest({ batching: { max_batch_size: 8, max_queue_delay_us: 20_000 } })),
      64,
      {
        queueWait: () => {},
        execution: (_m, { ok, requests }) => ok && runs.push(requests),
        request: () => {},
      },
    )
    const batched = await Promise.all(inputs.map((x) => batchedQueue.run(x)))
    for (let k = 0; k < inputs.length; k++) {
      const a = batched[k]?.output as Tensor
      const b = unbatched[k]?.output as Tensor
      expect(a.shape).toEqual([rows[k], 16])
      expect([...a.data]).toEqual([...b.data])
    }
    // Fewer inferences than requests: they were merged (each inference at most 8 rows).
    expect(runs.length).toBeLessThan(inputs.length)
    expect(runs.reduce((s, n) => s + n, 0)).toBe(inputs.length)
  })
})

/** A model whose merged inferences finish when the test says; a row of NaN makes an inference fail. */
function controllable() {
  const calls: Array<{ rows: number; resolve: () => void; fail: (e: Error) => void }> = []
  const model: LoadedModel = {
    backend: 'onnxruntime',
    device: 'CPU',
    inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 2] }],
    outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 2] }],
    parallelism: 1,
    compiledBatchSizes: null,
    precision: 'FP32',
    condition: () => ({ kind: 'serving' }),
    onConditionChange: () => {},
    infer: (inputs) =>
      new Promise((resolve, reject) => {
        const x = inputs.x as Tensor
        const poisoned = [...x.data].some(Number.isNaN)
        calls.push({
          rows: x.shape[0] as number,
          resolve: () =>
            poisoned
              ? reject(new Error('NaN in input'))
              : resolve({ y: { ...x, data: (x.data as Float32Array).map((v) => v * 2) } as Tensor }),
          fail: reject,
        })
      }),
    unload: async () => {},
  }
  const queue = new ModelQueue(
    registered(model, manifest({ batching: { max_batch_size: 16, max_queue_delay_us: 0 } })),
    64,
  )
  const tick = () => new Promise((r) => setImmediate(r))
  return { queue, calls, tick }
}

const row = (v: number) => ({ x: fp32(1, 2, () => v) })

describe('per-request guarantees inside a batch', () => {
  it('a request whose deadline passes while its batch runs gets 504; its batch-mates get their answers', async () => {
    const { queue, calls, tick } = controllable()
    const blocker = queue.run(row(1))
    await tick()
    const late = queue.run(row(2), { deadlineMs: 30 })
    const mate = queue.run(row(3))
    calls[0]?.resolve()
    await blocker
    await tick()
    expect(calls[1]?.rows).toBe(2) // the two queued requests were merged
    await expect(late).rejects.toBeInstanceOf(ErrDeadlineExceeded)
    calls[1]?.resolve()
    expect([...((await mate).y?.data ?? [])]).toEqual([6, 6])
  })

  it('a request cancelled while queued is left out of the batch; cancelled while running, it is answered 499', async () => {
    const { queue, calls, tick } = controllable()
    const blocker = queue.run(row(1))
    await tick()
    const gone = new AbortController()
    const running = new AbortController()
    const dropped = queue.run(row(5), { signal: gone.signal })
    const cancelledLater = queue.run(row(6), { signal: running.signal })
    const kept = queue.run(row(7))
    gone.abort()
    await expect(dropped).rejects.toBeInstanceOf(ErrCancelled)
    calls[0]?.resolve()
    await blocker
    await tick()
    expect(calls[1]?.rows).toBe(2) // 6 and 7 only
    running.abort()
    await expect(cancelledLater).rejects.toBeInstanceOf(ErrCancelled)
    calls[1]?.resolve()
    expect([...((await kept).y?.data ?? [])]).toEqual([14, 14])
  })

  it('one bad request never fails its batch-mates: a failed merged inference is retried one by one', async () => {
    const { queue, calls, tick } = controllable()
    const blocker = queue.run(row(1))
    await tick()
    const good1 = queue.run(row(2))
    // Settled into a value at once, so its rejection is never unhandled while the others finish.
    const bad = queue.run(row(Number.NaN)).then(
      () => null,
      (error: Error) => error,
    )
    const good2 = queue.run(row(3))
    calls[0]?.resolve()
    await blocker
    await tick()
    expect(calls[1]?.rows).toBe(3)
    calls[1]?.resolve() // the merged inference fails (NaN row)
    for (let i = 2; i < 5; i++) {
      await tick()
      await tick()
      expect(calls[i]?.rows).toBe(1)
      calls[i]?.resolve()
    }
    expect([...((await good1).y?.data ?? [])]).toEqual([4, 4])
    expect([...((await good2).y?.data ?? [])]).toEqual([6, 6])
    expect((await bad)?.message).toMatch(/NaN in input/)
  })
})
