import { describe, expect, it } from 'vitest'
import type { LoadedModel } from '../../src/backends/backend.js'
import type { Tensor } from '../../src/backends/tensor.js'
import type { ModelManifest } from '../../src/models/model-manifest.js'
import { RegisteredModel } from '../../src/models/registered-model.js'
import { ModelQueue } from '../../src/scheduler/model-queue.js'
import { Scheduler } from '../../src/scheduler/scheduler.js'
import { serveModel } from '../helpers/serve-model.js'

/** A LoadedModel whose inferences finish only when the test says so (queueing logic only). */
function controllableModel(parallelism: number) {
  const pending: Array<{
    resolve: (o: Record<string, Tensor>) => void
    reject: (e: Error) => void
    tag: number
  }> = []
  const model: LoadedModel = {
    backend: 'onnxruntime',
    device: 'CPU',
    inputs: [{ name: 'x', datatype: 'FP32', shape: [-1] }],
    outputs: [{ name: 'y', datatype: 'FP32', shape: [-1] }],
    parallelism,
    compiledBatchSizes: null,
    precision: 'FP32',
    condition: () => ({ kind: 'serving' }),
    onConditionChange: () => {},
    infer: (inputs) =>
      new Promise((resolve, reject) =>
        pending.push({ resolve, reject, tag: (inputs.x?.data[0] as number) ?? -1 }),
      ),
    unload: async () => {},
  }
  const registered = new RegisteredModel({
    name: 'm',
    version: '1',
    manifest: { devices: ['CPU'], queue: {} } as unknown as ModelManifest,
    modelPath: '/m.onnx',
    modelDir: '/',
  })
  serveModel(registered, model)
  const finish = (i = 0) => {
    const job = pending.splice(i, 1)[0]
    job?.resolve({ y: { datatype: 'FP32', shape: [1], data: Float32Array.of(job.tag) } })
  }
  return { registered, pending, finish }
}

const x = (tag: number) => ({ x: { datatype: 'FP32' as const, shape: [1], data: Float32Array.of(tag) } })
const tick = () => new Promise((resolve) => setImmediate(resolve))

describe('ModelQueue admission control', () => {
  it('runs at most `parallelism` at once, queues in FIFO order, refuses beyond the queue with retryAfter', async () => {
    const { registered, pending, finish } = controllableModel(2)
    const queue = new ModelQueue(registered, 2)
    const results = [1, 2, 3, 4].map((t) => queue.run(x(t)))
    await tick()
    expect(queue.active).toBe(2)
    expect(queue.queued).toBe(2)
    expect(pending.map((p) => p.tag)).toEqual([1, 2])
    await expect(queue.run(x(5))).rejects.toMatchObject({
      code: 'NPU_ERR_QUEUE_FULL',
      statusCode: 503,
      data: { retryAfterSeconds: expect.any(Number) },
    })
    finish()
    await tick()
    expect(pending.map((p) => p.tag)).toEqual([2, 3])
    for (let i = 0; i < 3; i++) {
      finish()
      await tick()
    }
    const values = await Promise.all(results)
    expect(values.map((v) => v.y?.data[0])).toEqual([1, 2, 3, 4])
    expect(queue.active + queue.queued).toBe(0)
  })

  it('answers 504 when the deadline passes while queued, and the job never runs', async () => {
    const { registered, pending, finish } = controllableModel(1)
    const queue = new ModelQueue(registered, 4)
    const running = queue.run(x(1))
    const late = queue.run(x(2), { deadlineMs: 10 })
    await expect(late).rejects.toMatchObject({ code: 'NPU_ERR_DEADLINE_EXCEEDED', statusCode: 504 })
    expect(queue.queued).toBe(0)
    finish()
    await running
    await tick()
    expect(pending).toHaveLength(0)
  })

  it('answers 504 while running, and frees the slot only when the native call returns', async () => {
    const { registered, finish } = controllableModel(1)
    const queue = new ModelQueue(registered, 4)
    await expect(queue.run(x(1), { deadlineMs: 5 })).rejects.toMatchObject({
      code: 'NPU_ERR_DEADLINE_EXCEEDED',
    })
    expect(queue.active).toBe(1)
    finish()
    await tick()
    expect(queue.active).toBe(0)
  })

  it('drops queued work whose client cancelled', async () => {
    const { registered, pending, finish } = controllableModel(1)
    const queue = new ModelQueue(registered, 4)
    const running = queue.run(x(1))
    const controller = new AbortController()
    const cancelled = queue.run(x(2), { signal: controller.signal })
    controller.abort()
    await expect(cancelled).rejects.toMatchObject({ code: 'NPU_ERR_CANCELLED' })
    finish()
    await running
    await tick()
    expect(pending).toHaveLength(0)
  })

  it('isolates errors: one failed inference fails only its own request, as a 500 with the runtime message', async () => {
    const { registered, pending, finish } = controllableModel(2)
    const queue = new ModelQueue(registered, 4)
    const a = queue.run(x(1))
    const b = queue.run(x(2))
    await tick()
    pending.shift()?.reject(new Error('Got invalid dimensions for input'))
    finish()
    await expect(a).rejects.toMatchObject({
      code: 'NPU_ERR_INFERENCE_FAILED',
      statusCode: 500,
      message: /invalid dimensions/,
    })
    await expect(b).resolves.toMatchObject({ y: expect.anything() })
  })

  it('refuses models that are not ready with 503', async () => {
    const registered = new RegisteredModel({
      name: 'm',
      version: '1',
      manifest: { devices: ['CPU'], queue: {} } as unknown as ModelManifest,
      modelPath: '/m.onnx',
      modelDir: '/',
    })
    expect(registered.state.kind).toBe('loading')
    await expect(new ModelQueue(registered, 1).run(x(1))).rejects.toMatchObject({
      code: 'NPU_ERR_MODEL_NOT_READY',
      statusCode: 503,
    })
  })
})

describe('Scheduler', () => {
  it('aggregates load and drains only when nothing runs or waits', async () => {
    const { registered, finish } = controllableModel(1)
    const scheduler = new Scheduler({ defaults: { queueMaxQueued: 3 } })
    const a = scheduler.run(registered, x(1))
    const b = scheduler.run(registered, x(2))
    await tick()
    expect(scheduler.load([registered])).toEqual({ active: 1, queued: 1, capacity: 1, queue_capacity: 3 })
    let drained = false
    const drain = scheduler.drain(1).then(() => {
      drained = true
    })
    finish()
    await a
    expect(drained).toBe(false)
    await tick()
    finish()
    await Promise.all([b, drain])
    expect(drained).toBe(true)
  })
})

describe('request parameters through the queue', () => {
  it('hands a request its own parameters, and never batches requests whose parameters differ', async () => {
    const seen: Array<{ tag: number; parameters: unknown; rows: number }> = []
    const model: LoadedModel = {
      backend: 'onnxruntime',
      device: 'CPU',
      inputs: [{ name: 'x', datatype: 'FP32', shape: [-1] }],
      outputs: [{ name: 'y', datatype: 'FP32', shape: [-1] }],
      parallelism: 1,
      compiledBatchSizes: null,
      precision: 'FP32',
      condition: () => ({ kind: 'serving' }),
      onConditionChange: () => {},
      infer: async (inputs, _names, options) => {
        const data = inputs.x?.data as Float32Array
        seen.push({ tag: data[0] as number, parameters: options?.parameters, rows: data.length })
        return { y: { datatype: 'FP32', shape: [data.length], data: data.slice() } }
      },
      unload: async () => {},
    }
    const registered = new RegisteredModel({
      name: 'm',
      version: '1',
      manifest: {
        devices: ['CPU'],
        queue: {},
        batching: { max_batch_size: 8, max_queue_delay_us: 20_000 },
      } as unknown as ModelManifest,
      modelPath: '/m.onnx',
      modelDir: '/',
    })
    serveModel(registered, model)
    const queue = new ModelQueue(registered, 8)
    const answers = await Promise.all([
      queue.run(x(1), { parameters: { temperature: 0.5 } }),
      queue.run(x(2), { parameters: { temperature: 0.5 } }),
      queue.run(x(3), { parameters: { temperature: 0.9 } }),
      queue.run(x(4)),
    ])
    expect(answers.map((a) => Array.from(a.y?.data as Float32Array))).toEqual([[1], [2], [3], [4]])
    // 1 and 2 share their parameters and merge; 3 and 4 differ from them and from each other.
    expect(seen).toEqual([
      { tag: 1, parameters: { temperature: 0.5 }, rows: 2 },
      { tag: 3, parameters: { temperature: 0.9 }, rows: 1 },
      { tag: 4, parameters: undefined, rows: 1 },
    ])
  })
})
