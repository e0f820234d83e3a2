import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { InferTimeoutError, type LoadedModel, type ModelCondition } from '../../src/backends/backend.js'
import { OnnxRuntimeBackend } from '../../src/backends/onnxruntime.js'
import { faultPlan } from '../../src/testing/fault-plan.js'
import { DIST_THREAD_ENTRIES } from '../helpers/thread-entries.js'
import { CLS_OUTPUT, clsInput, clsSpec, expectClose, referenceOutput } from './backend-contract.js'
import { spin, spinModelFile } from './spin-fixture.js'

// ONNX Runtime's runtime truth with real threads and real native work: the hard limit on a `session.run` that
// does not return (the spin model: an ONNX Loop, a real native busy loop), threads that die, replacements that
// fail to start and are retried with backoff, and the condition the registry follows through all of it.

const spinSpec = spinModelFile('ort-recovery-', {})

function watch(model: LoadedModel): ModelCondition[] {
  const seen: ModelCondition[] = []
  model.onConditionChange((condition) => seen.push(condition))
  return seen
}

const backends: OnnxRuntimeBackend[] = []
function backend(options: Partial<ConstructorParameters<typeof OnnxRuntimeBackend>[0]> = {}) {
  const created = new OnnxRuntimeBackend({ threadEntry: DIST_THREAD_ENTRIES.onnxruntime, ...options })
  backends.push(created)
  return created
}

afterEach(async () => {
  // An abandoned thread must have come back before the file ends: a process exiting while a thread is inside
  // `run` aborts (that is what the last test shows).
  for (const b of backends) {
    await vi.waitFor(() => expect(b.abandonedCalls()).toEqual([]), { timeout: 60_000, interval: 100 })
    await b.close()
  }
  backends.length = 0
})

describe('ONNX Runtime: the hard limit on one inference', () => {
  it('rejects a run past its limit, abandons its thread, serves the next call on a replacement', async () => {
    const ort = backend()
    const model = await ort.load(spinSpec())
    const conditions = watch(model)
    expect((await model.infer(spin(10, 1))).y?.data).toEqual(Float32Array.of(11))

    const stuck = model.infer(spin(1_500_000))
    await expect(stuck).rejects.toThrow(InferTimeoutError)
    await expect(stuck).rejects.toMatchObject({ code: 'INFER_TIMEOUT', model: 'spin', timeoutMs: 300 })
    expect(ort.abandonedCalls()).toMatchObject([{ model: 'spin', version: '1', thread: 'ort:spin:1#0' }])

    // The next call runs on the replacement while the abandoned thread is still inside its `run`.
    expect((await model.infer(spin(5, 2))).y?.data).toEqual(Float32Array.of(7))
    expect(ort.abandonedCalls()).toHaveLength(1)
    expect(model.condition()).toEqual({ kind: 'serving' })
    // Recovering (once, or again with a later attempt when a loaded machine slows the replacement), then serving.
    const kinds = conditions.map((c) => c.kind)
    expect(kinds.at(-1)).toBe('serving')
    expect(new Set(kinds.slice(0, -1))).toEqual(new Set(['recovering']))
    expect(conditions[0]).toMatchObject({
      reason: expect.stringMatching(/did not return within 300 ms \(thread abandoned\)/),
    })

    // When its `run` returns, the abandoned thread is ended in order (never terminated inside `run`).
    await vi.waitFor(() => expect(ort.abandonedCalls()).toEqual([]), { timeout: 60_000, interval: 50 })
    await model.unload()
  })

  it('unload() does not wait for an abandoned thread', async () => {
    const ort = backend()
    const model = await ort.load(spinSpec())
    await expect(model.infer(spin(1_500_000))).rejects.toThrow(InferTimeoutError)
    await model.unload()
    // Unloaded while the abandoned `run` still goes on.
    expect(ort.abandonedCalls()).toHaveLength(1)
    await expect(model.infer(spin(1))).rejects.toThrow(/unloading/)
  })

  it('waits for a running call at unload, within its limit', async () => {
    const ort = backend()
    const model = await ort.load(spinSpec({ inferTimeoutMs: 60_000 }))
    const running = model.infer(spin(200_000, 1))
    await model.unload()
    expect((await running).y?.data).toEqual(Float32Array.of(200_001))
  })
})

describe('ONNX Runtime: dead threads come back, with backoff', () => {
  it('a thread that dies mid-inference fails that call; replacements that cannot start are retried until one serves', async () => {
    const plan = faultPlan({
      'ppocr-cls': {
        crash_thread: { after: 1, count: 1 },
        // The first start (the load) passes; the next two (replacements) fail.
        fail_thread_starts: { after: 1, count: 2 },
      },
    })
    const ort = backend({
      threadEntry: DIST_THREAD_ENTRIES.faultyOnnxruntime,
      threadExtra: plan,
      respawnDelayMs: (attempt) => 50 * attempt,
    })
    const model = await ort.load(clsSpec({ instances: 1 }))
    const conditions: ModelCondition[] = []
    let refusal: Promise<unknown> | null = null
    model.onConditionChange((condition) => {
      conditions.push(condition)
      // While no thread exists (waiting out the backoff), a call is refused at once, not queued forever.
      if (condition.kind === 'recovering' && condition.retryAt > Date.now() && !refusal) {
        refusal = model.infer({ x: clsInput(1, 1) }).then(
          () => 'served',
          (error: Error) => error,
        )
      }
    })
    const input = clsInput(1, 31)
    expectClose(
      (await model.infer({ x: input }))[CLS_OUTPUT]!.data as Float32Array,
      await referenceOutput(input),
    )
    await expect(model.infer({ x: input })).rejects.toThrow(
      /ONNX Runtime thread of model ppocr-cls died during inference \(exit code 70\)/,
    )
    await vi.waitFor(() => expect(model.condition()).toEqual({ kind: 'serving' }), { timeout: 30_000 })
    const attempts = conditions
      .filter((c) => c.kind === 'recovering')
      .map((c) => (c as { attempt: number }).attempt)
    expect(attempts).toContain(2)
    expect(attempts).toContain(3)
    expect(conditions.at(-1)).toEqual({ kind: 'serving' })
    const down = conditions.find((c) => c.kind === 'recovering' && c.attempt === 2)
    expect(down).toMatchObject({
      reason: expect.stringMatching(/could not start: test hook fail_thread_starts/),
    })
    expect(await refusal).toMatchObject({
      message: expect.stringMatching(/every ONNX Runtime thread of model ppocr-cls is down/),
    })
    // Serving again, with correct numbers.
    expectClose(
      (await model.infer({ x: input }))[CLS_OUTPUT]!.data as Float32Array,
      await referenceOutput(input),
    )
  })
})

describe('why a stuck thread is abandoned, not terminated', () => {
  it('terminating a thread inside session.run aborts the whole process (SIGABRT, Napi::Error)', async () => {
    const script = fileURLToPath(new URL('./fixtures/terminate-inside-run.mjs', import.meta.url))
    const child = spawn(process.execPath, [script, '2000000'], { stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', (chunk) => (output += chunk))
    child.stderr.on('data', (chunk) => (output += chunk))
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
      child.once('close', (c, s) => resolve([c, s])),
    )
    expect(output).toContain('terminating')
    expect(output).not.toContain('survived')
    expect(output).toContain("terminate called after throwing an instance of 'Napi::Error'")
    expect(signal ?? code).toBe('SIGABRT')
  })
})
