// Needs the compiled thread entry (dist/backends/onnxruntime-thread.js, passed as DIST_THREAD_ENTRIES): turbo
// builds before tests; by hand run `pnpm --filter @npu-fleet/worker exec tsc -p tsconfig.build.json` first.
import { afterEach, describe, expect, it, vi } from 'vitest'
import { OnnxRuntimeBackend, OnnxRuntimeModel } from '../../src/backends/onnxruntime.js'
import { DIST_THREAD_ENTRIES } from '../helpers/thread-entries.js'
import {
  CLS_OUTPUT,
  clsInput,
  clsSpec,
  describeBackendContract,
  expectClose,
  referenceOutput,
} from './backend-contract.js'

const options = { threadEntry: DIST_THREAD_ENTRIES.onnxruntime }

describeBackendContract('onnxruntime on CPU', {
  backend: () => new OnnxRuntimeBackend(options),
  spec: clsSpec(),
})

describe('OnnxRuntimeBackend', () => {
  const opened: { unload(): Promise<void> }[] = []
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((m) => m.unload()))
  })

  it('reports the onnxruntime-node version and the CPU', async () => {
    const probe = await new OnnxRuntimeBackend(options).probe()
    expect(probe).toEqual({
      available: true,
      version: expect.stringMatching(/^1\.\d+\.\d+/),
      devices: ['CPU'],
      error: null,
    })
  })

  it('refuses devices other than the CPU and files other than ONNX', async () => {
    const backend = new OnnxRuntimeBackend(options)
    await expect(backend.load(clsSpec({ device: 'NPU' }))).rejects.toThrow(/CPU only, not NPU/)
    await expect(backend.load(clsSpec({ modelPath: '/models/m.xml' }))).rejects.toThrow(/ONNX files only/)
  })

  it('rejects a model file the runtime cannot read, with its message', async () => {
    await expect(
      new OnnxRuntimeBackend(options).load(clsSpec({ modelPath: '/nonexistent/model.onnx' })),
    ).rejects.toThrow(/could not load \/nonexistent\/model\.onnx: .+/)
  })

  it('runs one thread per instance and reports the dynamic batch', async () => {
    const model = await OnnxRuntimeModel.start(clsSpec({ instances: 3 }), options)
    opened.push(model)
    expect(model.threads).toHaveLength(3)
    expect(model.parallelism).toBe(3)
    expect(model.compiledBatchSizes).toBeNull()
    expect(new Set(model.threads.map((w) => w.threadId)).size).toBe(3)
  })

  it('rejects a shape the model cannot take with the runtime message', async () => {
    const model = await OnnxRuntimeModel.start(clsSpec({ instances: 1 }), options)
    opened.push(model)
    const bad = { datatype: 'FP32' as const, shape: [1, 5, 48, 192], data: new Float32Array(5 * 48 * 192) }
    await expect(model.infer({ x: bad })).rejects.toThrow(/.+/)
    const input = clsInput(1, 5)
    expectClose(
      (await model.infer({ x: input }))[CLS_OUTPUT]!.data as Float32Array,
      await referenceOutput(input),
    )
  })

  it('hands a transferred input buffer back with the answer when asked (recycleInputs)', async () => {
    const model = await OnnxRuntimeModel.start(clsSpec({ instances: 1 }), options)
    opened.push(model)
    const input = clsInput(2, 21)
    const sent = (input.data as Float32Array).slice()
    const returned: ArrayBuffer[] = []
    const result = await model.infer({ x: input }, undefined, {
      transferInputs: true,
      recycleInputs: (buffer) => returned.push(buffer),
    })
    const reference = await referenceOutput({ datatype: 'FP32', shape: input.shape, data: sent })
    expectClose(result[CLS_OUTPUT]!.data as Float32Array, reference)
    expect(returned).toHaveLength(1)
    expect(new Float32Array(returned[0]!)).toEqual(sent)
    // Without recycleInputs nothing comes back, and the caller's own buffer is untouched (copied, not moved).
    const kept = clsInput(1, 22)
    await model.infer({ x: kept })
    expect((kept.data as Float32Array).length).toBeGreaterThan(0)
  })

  it('replaces a thread that was terminated while idle and keeps serving correct results', async () => {
    const model = await OnnxRuntimeModel.start(clsSpec({ instances: 2 }), options)
    opened.push(model)
    const victim = model.threads[0]!
    await victim.terminate()
    const inputs = [clsInput(2, 11), clsInput(1, 12), clsInput(3, 13), clsInput(1, 14)]
    const results = await Promise.all(inputs.map((x) => model.infer({ x })))
    for (const [i, result] of results.entries()) {
      expectClose(result[CLS_OUTPUT]!.data as Float32Array, await referenceOutput(inputs[i]!))
    }
    // The replacement serves once its session is up; until then the model says it is impaired.
    await vi.waitFor(() => expect(model.condition()).toEqual({ kind: 'serving' }), { timeout: 30_000 })
    expect(model.threads).toHaveLength(2)
    expect(model.threads).not.toContain(victim)
  })

  it('rejects the pending call of a thread that dies, with a clear error, and replaces the thread', async () => {
    const entry = new URL('./fixtures/dying-onnx-thread.mjs', import.meta.url)
    const model = await OnnxRuntimeModel.start(clsSpec({ instances: 1 }), { threadEntry: entry })
    opened.push(model)
    const victim = model.threads[0]!
    const input = clsInput(1, 21)
    // The fixture thread exits (code 3) on a request carrying an input named `die`.
    const dying = model.infer({ x: input, die: input })
    const queued = model.infer({ x: input })
    await expect(dying).rejects.toThrow(
      /ONNX Runtime thread of model ppocr-cls died during inference \(exit code 3\)/,
    )
    // The call queued behind it runs on the replacement thread.
    expectClose((await queued)[CLS_OUTPUT]!.data as Float32Array, await referenceOutput(input))
    expect(model.threads).toHaveLength(1)
    expect(model.threads[0]).not.toBe(victim)
  })

  it('close() unloads every model it loaded', async () => {
    const backend = new OnnxRuntimeBackend(options)
    const a = await backend.load(clsSpec({ instances: 1 }))
    const b = await backend.load(clsSpec({ instances: 1 }))
    await backend.close()
    await expect(a.infer({ x: clsInput(1, 1) })).rejects.toThrow(/unloading/)
    await expect(b.infer({ x: clsInput(1, 1) })).rejects.toThrow(/unloading/)
  })
})
