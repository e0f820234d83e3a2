// The OpenVINO backend's hard time limit and recovery, on the fake runtime with injected faults: a native
// request that never settles must not wedge its model. The backend abandons it after inferTimeoutMs, makes a
// new AsyncInferQueue, checks it with one inference, and if that fails compiles the model again with backoff;
// condition() says so at every step. Waits are on states (vi.waitFor), never on fixed sleeps.

import { toleranceFor } from '@npu-fleet/protocol'
import { afterEach, describe, expect, it, vi } from 'vitest'
import type { ModelCondition } from '../../src/backends/backend.js'
import { InferTimeoutError, type LoadedModel } from '../../src/backends/backend.js'
import { OpenvinoBackend } from '../../src/backends/openvino.js'
import { createFakeOpenvino, type FakeOpenvinoOptions } from '../../src/testing/fake-openvino.js'
import { CLS_OUTPUT, clsInput, clsSpec, expectClose, referenceOutput } from './backend-contract.js'

const TIMEOUT_MS = 200
const NPU_TOLERANCE = toleranceFor('NPU')
const backends: OpenvinoBackend[] = []
afterEach(async () => {
  await Promise.all(backends.splice(0).map((b) => b.close()))
})

/** Loads the classifier on the fake NPU with `faults`, recording every condition change. */
async function npuModel(
  options: FakeOpenvinoOptions,
  instances = 1,
  hint: 'LATENCY' | 'THROUGHPUT' = 'LATENCY',
) {
  const fake = createFakeOpenvino({ devices: ['CPU', 'NPU'], ...options })
  const backend = new OpenvinoBackend({ runtime: fake.runtime })
  backends.push(backend)
  const model = await backend.load(
    clsSpec({
      device: 'NPU',
      staticShapes: { x: [1, 3, 48, 192] },
      inferTimeoutMs: TIMEOUT_MS,
      instances,
      performanceHint: hint,
    }),
  )
  const conditions: ModelCondition[] = []
  model.onConditionChange((c) => conditions.push(c))
  return { fake, backend, model, conditions }
}

async function expectCorrect(model: LoadedModel, seed: number): Promise<void> {
  const input = clsInput(1, seed)
  const out = await model.infer({ x: input })
  expectClose(out[CLS_OUTPUT]!.data as Float32Array, await referenceOutput(input), NPU_TOLERANCE)
}

describe('OpenVINO hard time limit and recovery (fake NPU)', () => {
  it('abandons a request that never settles, replaces the queue, and serves again', async () => {
    const { fake, model, conditions } = await npuModel({ faults: [{ kind: 'hang', count: 1 }] })
    expect(model.parallelism).toBe(1)
    const started = model.infer({ x: clsInput(1, 1) })
    await expect(started).rejects.toBeInstanceOf(InferTimeoutError)
    await expect(started).rejects.toThrow(
      `native inference of ppocr-cls did not settle within ${TIMEOUT_MS} ms`,
    )
    await vi.waitFor(() => expect(model.condition()).toEqual({ kind: 'serving' }), { timeout: 10_000 })
    // With one request, nothing could serve while the new queue was checked.
    expect(conditions[0]).toMatchObject({ kind: 'recovering', attempt: 1 })
    expect(conditions[0]!.kind === 'recovering' && conditions[0]!.reason).toMatch(
      /did not settle within 200 ms/,
    )
    expect(conditions.at(-1)).toEqual({ kind: 'serving' })
    await expectCorrect(model, 2)
    // The hung queue is kept, never released (its request may still complete), and nothing aborted.
    expect(fake.queues.map((q) => [q.released, q.running])).toEqual([
      [false, 1],
      [false, 0],
    ])
    expect(fake.aborts).toEqual([])
  })

  it('moves calls that waited behind the hung request onto the new queue', async () => {
    const { model } = await npuModel({ faults: [{ kind: 'hang', count: 1 }] })
    const hung = model.infer({ x: clsInput(1, 1) })
    const waiting = [3, 4, 5].map((seed) => ({ seed, result: model.infer({ x: clsInput(1, seed) }) }))
    await expect(hung).rejects.toBeInstanceOf(InferTimeoutError)
    for (const { seed, result } of waiting) {
      const out = await result
      expectClose(
        out[CLS_OUTPUT]!.data as Float32Array,
        await referenceOutput(clsInput(1, seed)),
        NPU_TOLERANCE,
      )
    }
  })

  it('with several requests, one hung request leaves the model impaired, not down', async () => {
    const { model, conditions } = await npuModel({ faults: [{ kind: 'hang', count: 1 }] }, 4, 'THROUGHPUT')
    expect(model.parallelism).toBe(4)
    await expect(model.infer({ x: clsInput(1, 1) })).rejects.toBeInstanceOf(InferTimeoutError)
    await vi.waitFor(() => expect(model.condition()).toEqual({ kind: 'serving' }), { timeout: 10_000 })
    expect(conditions[0]).toMatchObject({ kind: 'impaired', live: 3 })
    await expectCorrect(model, 6)
  })

  it('a device that keeps hanging: the check fails, the model is recompiled with backoff, and recovers once healed', async () => {
    const { fake, model, conditions } = await npuModel({ faults: [{ kind: 'hang' }] })
    await expect(model.infer({ x: clsInput(1, 1) })).rejects.toBeInstanceOf(InferTimeoutError)
    // The check of the new queue hangs too: recompiling, then backing off between attempts.
    await vi.waitFor(
      () => expect(conditions.some((c) => c.kind === 'recovering' && c.attempt >= 2)).toBe(true),
      { timeout: 10_000 },
    )
    const recovering = model.condition()
    expect(recovering.kind).toBe('recovering')
    // Calls are refused with the reason while nothing can serve, not queued behind a dead device.
    await vi.waitFor(
      async () => {
        await expect(model.infer({ x: clsInput(1, 2) })).rejects.toThrow(
          /cannot serve on NPU now: .*\(recovering, attempt \d+\)/,
        )
      },
      { timeout: 10_000 },
    )
    const compilesBefore = fake.compilations.length
    fake.setFaults([])
    await vi.waitFor(() => expect(model.condition()).toEqual({ kind: 'serving' }), { timeout: 20_000 })
    expect(fake.compilations.length).toBeGreaterThan(compilesBefore)
    await expectCorrect(model, 3)
    expect(fake.aborts).toEqual([])
  })

  it('older addons lose a native error: the call times out and the model recovers', async () => {
    const { model } = await npuModel({ errorDelivery: 'lost', faults: [{ kind: 'native-error', count: 1 }] })
    await expect(model.infer({ x: clsInput(1, 1) })).rejects.toBeInstanceOf(InferTimeoutError)
    await vi.waitFor(() => expect(model.condition()).toEqual({ kind: 'serving' }), { timeout: 10_000 })
    await expectCorrect(model, 2)
  })

  it('2026 addons report a native error at once: the call fails with it and the model keeps serving', async () => {
    const { model, conditions } = await npuModel({ faults: [{ kind: 'native-error', count: 1 }] })
    await expect(model.infer({ x: clsInput(1, 1) })).rejects.toThrow(/fake native failure/)
    await expectCorrect(model, 2)
    expect(conditions).toEqual([])
  })

  it('a slow request that comes back after its limit is dropped, and only then is its old queue released', async () => {
    const { fake, model } = await npuModel({ faults: [{ kind: 'delay', ms: TIMEOUT_MS * 3, count: 1 }] })
    await expect(model.infer({ x: clsInput(1, 1) })).rejects.toBeInstanceOf(InferTimeoutError)
    await vi.waitFor(() => expect(model.condition()).toEqual({ kind: 'serving' }), { timeout: 10_000 })
    expect(fake.queues[0]!.released).toBe(false)
    await vi.waitFor(() => expect(fake.queues[0]!.released).toBe(true), { timeout: 10_000 })
    expect(fake.aborts).toEqual([])
    await expectCorrect(model, 2)
  })

  it('unload does not wait for a request that never settles, and leaves its queue unreleased', async () => {
    const { fake, model } = await npuModel({ faults: [{ kind: 'hang', count: 1 }] })
    const hung = model.infer({ x: clsInput(1, 1) })
    // Settled one way or the other, observed from the start (a rejection must not go unhandled).
    const queued = model.infer({ x: clsInput(1, 2) }).then(
      () => 'ran',
      (err: Error) => err.message,
    )
    const unloading = model.unload()
    await expect(hung).rejects.toBeInstanceOf(InferTimeoutError)
    await unloading
    // The call waiting behind it ran on the replacement queue or was failed clearly: it settled either way.
    expect(await queued).toMatch(/^ran$|unloaded before this call could run/)
    await expect(model.infer({ x: clsInput(1, 3) })).rejects.toThrow(/unloading/)
    expect(fake.queues[0]).toMatchObject({ released: false, running: 1 })
    expect(fake.aborts).toEqual([])
  })

  it('names every abandoned request that has not come back, unloaded models included', async () => {
    const { backend, model } = await npuModel({ faults: [{ kind: 'hang', count: 1 }] })
    expect(backend.abandonedCalls()).toEqual([])
    await expect(model.infer({ x: clsInput(1, 1) })).rejects.toBeInstanceOf(InferTimeoutError)
    const [call] = backend.abandonedCalls()
    expect(call).toEqual({
      model: 'ppocr-cls',
      version: '1',
      thread: 'openvino:ppocr-cls:1@NPU#queue0',
      since: expect.any(Number),
    })
    await model.unload()
    expect(backend.abandonedCalls()).toEqual([call])
  })
})
