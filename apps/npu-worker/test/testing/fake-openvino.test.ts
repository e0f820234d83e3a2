// The fake openvino-node against what the binding's C++ does (src/bindings/js/node of openvinotoolkit/openvino,
// cited in src/testing/fake-openvino*.ts): the fake is only worth its tests if it refuses what the addon
// refuses and delivers errors the way each addon version does.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it, vi } from 'vitest'
import type { OvCompiledModel, OvInferRequest } from '../../src/backends/openvino-runtime.js'
import { createFakeOpenvino, type FakeOpenvinoOptions } from '../../src/testing/fake-openvino.js'
import { CLS_MODEL_PATH, CLS_OUTPUT, clsInput } from '../backends/backend-contract.js'
import { GENERATED_MODELS_DIR } from '../helpers/worker-process.js'

const BERT = join(GENERATED_MODELS_DIR, 'tiny-bert-embed', '1', 'model.onnx')
const dirs: string[] = []
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })))
})

async function compiledCls(options: FakeOpenvinoOptions, device = 'CPU', hint = 'LATENCY') {
  const fake = createFakeOpenvino(options)
  const core = new fake.runtime.Core()
  const model = await core.readModel(CLS_MODEL_PATH)
  if (device === 'NPU') model.reshape('[1,3,48,192]')
  const compiled = await core.compileModel(model, device, { PERFORMANCE_HINT: hint })
  return { fake, core, model, compiled }
}

function clsTensor(fake: ReturnType<typeof createFakeOpenvino>, seed = 1) {
  const x = clsInput(1, seed)
  return new fake.runtime.Tensor('f32', x.shape, x.data as Float32Array)
}

/** Resolves with the callback's arguments of one startAsync (or never, as the real addon may). */
function callbackOf(
  queue: InstanceType<ReturnType<typeof createFakeOpenvino>['runtime']['AsyncInferQueue']>,
) {
  const calls: { error: Error | null; request: OvInferRequest }[] = []
  queue.setCallback((error, request) => calls.push({ error, request }))
  return calls
}

describe('fake openvino-node: tensors (helper.cpp cast_to_tensor, tensor_impl.cpp, tensor.cpp)', () => {
  const { runtime } = createFakeOpenvino()

  it('wraps a whole typed array of the exact byte size (the 2026 rule) and refuses anything else', () => {
    const data = new Float32Array(6)
    expect(new runtime.Tensor('f32', [2, 3], data).getShape()).toEqual([2, 3])
    expect(() => new runtime.Tensor('f32', [2, 3], new Float32Array(new ArrayBuffer(28), 4, 6))).toThrow(
      'TypedArray.byteOffset must be zero for zero-copy tensor construction.',
    )
    expect(() => new runtime.Tensor('f32', [2, 3], new Float32Array(new ArrayBuffer(32), 0, 6))).toThrow(
      'Memory allocated using shape and element::type mismatch TypedArray byte length.',
    )
    expect(() => new runtime.Tensor('f32', [2, 3], new Float32Array(7))).toThrow(
      /mismatch TypedArray byte length/,
    )
  })

  it('creates only the element types the addon supports (no f16, no boolean)', () => {
    expect(() => new runtime.Tensor('f16' as 'f32', [2], new Float32Array(2))).toThrow(
      'Cannot create ov::element::Type',
    )
    expect(() => new runtime.Tensor('boolean' as 'u8', [2], new Uint8Array(2))).toThrow(
      'Cannot create ov::element::Type',
    )
  })

  it('reads the element type back as a string (upstream declares the `element` enum) and copies getData()', () => {
    const data = Float32Array.from([1, 2])
    const tensor = new runtime.Tensor('f32', [2], data)
    expect(tensor.getElementType()).toBe('f32')
    const read = tensor.getData() as Float32Array
    read[0] = 99
    expect(data[0]).toBe(1)
    expect(Array.from(tensor.getData() as Float32Array)).toEqual([1, 2])
  })
})

describe('fake openvino-node: Model.reshape and PrePostProcessor (model_wrap.cpp, preprocess/*.cpp)', () => {
  it('reshapes a one-input model from one partial shape; refuses the Map form and multi-input models', async () => {
    const { runtime } = createFakeOpenvino()
    const core = new runtime.Core()
    const cls = await core.readModel(CLS_MODEL_PATH)
    cls.reshape('[1,3,48,192]')
    expect(cls.inputs[0]!.getPartialShape().getDimensions()).toEqual([1, 3, 48, 192])
    const map = new Map([['x', '[1,3,48,192]']]) as unknown as string
    expect(() => cls.reshape(map)).toThrow("'reshape' method called with incorrect parameters.")
    const bert = await core.readModel(BERT)
    expect(() => bert.reshape('[1,128]')).toThrow(/exactly one input; this one has 3/)
  })

  it('reads IR-style bounded dimensions as [min, max], unbounded ones as -1', async () => {
    const { runtime } = createFakeOpenvino({ partialShapes: { [CLS_MODEL_PATH]: { x: '[1..4,3,48,?]' } } })
    const model = await new runtime.Core().readModel(CLS_MODEL_PATH)
    expect(model.inputs[0]!.getPartialShape().getDimensions()).toEqual([[1, 4], 3, 48, -1])
    expect(model.inputs[0]!.getPartialShape().toString()).toBe('[1..4,3,48,?]')
  })

  it('gives multi-input models static shapes through input(name).tensor().setShape, checked at build()', async () => {
    const { runtime } = createFakeOpenvino({ devices: ['NPU'] })
    const core = new runtime.Core()
    const bert = await core.readModel(BERT)
    const ppp = new runtime.preprocess.PrePostProcessor(bert)
    for (const name of ['input_ids', 'attention_mask', 'token_type_ids'])
      ppp.input(name).tensor().setShape([1, 128])
    // Like pre_post_process_wrap.cpp: build() returns nothing; the model changed in place.
    expect(ppp.build()).toBeUndefined()
    expect(bert.inputs.map((p) => p.getPartialShape().toString())).toEqual(['[1,128]', '[1,128]', '[1,128]'])
    await expect(core.compileModel(bert, 'NPU', {})).resolves.toBeDefined()
    const wrongRank = new runtime.preprocess.PrePostProcessor(await core.readModel(BERT))
    wrongRank.input('input_ids').tensor().setShape([1, 128, 1])
    expect(() => wrongRank.build()).toThrow(/is not aligned with original parameter's shape/)
  })

  it('setElementType accepts the supported element types only (helper.cpp js_to_cpp<ov::element::Type_t>)', async () => {
    const { runtime } = createFakeOpenvino()
    const ppp = new runtime.preprocess.PrePostProcessor(await new runtime.Core().readModel(CLS_MODEL_PATH))
    expect(() =>
      ppp
        .input('x')
        .tensor()
        .setElementType('f16' as 'f32'),
    ).toThrow('Cannot create ov::element::Type')
    expect(() =>
      ppp
        .output(CLS_OUTPUT)
        .tensor()
        .setElementType('boolean' as 'u8'),
    ).toThrow('Cannot create ov::element::Type')
  })
})

describe('fake openvino-node: compiling (plugin behaviour)', () => {
  it('reports OPTIMAL_NUMBER_OF_INFER_REQUESTS per device and hint', async () => {
    const optimal = async (device: string, hint: string, options: FakeOpenvinoOptions = {}) =>
      (await compiledCls({ devices: ['CPU', 'GPU', 'NPU'], ...options }, device, hint)).compiled.getProperty(
        'OPTIMAL_NUMBER_OF_INFER_REQUESTS',
      )
    expect(await optimal('NPU', 'LATENCY')).toBe(1)
    expect(await optimal('NPU', 'THROUGHPUT')).toBe(4)
    expect(await optimal('GPU', 'THROUGHPUT')).toBe(4)
    expect(await optimal('CPU', 'LATENCY')).toBe(1)
    expect(await optimal('CPU', 'THROUGHPUT', { cpuThroughputStreams: 3 })).toBe(3)
  })

  it('reports INFERENCE_PRECISION_HINT f16 on the NPU and GPU and f32 on the CPU, unless told not to', async () => {
    const hint = async (device: string, options: FakeOpenvinoOptions = {}) =>
      (await compiledCls({ devices: ['CPU', 'GPU', 'NPU'], ...options }, device)).compiled.getProperty(
        'INFERENCE_PRECISION_HINT',
      )
    expect(await hint('NPU')).toBe('f16')
    expect(await hint('GPU')).toBe('f16')
    expect(await hint('CPU')).toBe('f32')
    await expect(hint('NPU', { reportPrecisionHint: false })).rejects.toThrow(
      'Unsupported property INFERENCE_PRECISION_HINT by NPU plugin',
    )
  })

  it('refuses operators a device cannot compile, naming them; other devices still compile', async () => {
    const options = { devices: ['CPU', 'NPU'], unsupportedOps: { NPU: ['Softmax'] } }
    await expect(compiledCls(options, 'NPU')).rejects.toThrow(
      /\[NPU\] Cannot compile model: operation .* of type Softmax/,
    )
    await expect(compiledCls(options, 'CPU')).resolves.toBeDefined()
  })

  it('takes the configured compile latency, and the (shorter) import latency on a CACHE_DIR hit', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout'] })
    try {
      const cacheDir = await mkdtemp(join(tmpdir(), 'fake-ov-cache-'))
      dirs.push(cacheDir)
      const fake = createFakeOpenvino({
        devices: ['NPU'],
        compileLatencyMs: { NPU: 30_000 },
        cacheImportLatencyMs: 2000,
      })
      const core = new fake.runtime.Core()
      const compile = async () => {
        const model = await core.readModel(CLS_MODEL_PATH)
        model.reshape('[1,3,48,192]')
        let done = false
        const compiling = core.compileModel(model, 'NPU', { CACHE_DIR: cacheDir }).then(() => (done = true))
        return { compiling, done: () => done }
      }
      const cold = await compile()
      await vi.advanceTimersByTimeAsync(29_000)
      expect(cold.done()).toBe(false)
      await vi.advanceTimersByTimeAsync(1000)
      await cold.compiling
      const warm = await compile()
      await vi.advanceTimersByTimeAsync(2000)
      await warm.compiling
      expect(fake.compilations.map((c) => c.cacheHit)).toEqual([false, true])
    } finally {
      vi.useRealTimers()
    }
  })

  it('creates a missing CACHE_DIR as OpenVINO does, and records that it was missing', async () => {
    const root = await mkdtemp(join(tmpdir(), 'fake-ov-cache-'))
    dirs.push(root)
    const fake = createFakeOpenvino()
    const core = new fake.runtime.Core()
    await core.compileModel(await core.readModel(CLS_MODEL_PATH), 'CPU', { CACHE_DIR: join(root, 'new') })
    expect(fake.compilations[0]).toMatchObject({ cacheDirExisted: false, cacheHit: false })
  })

  it('reads device properties as a plugin does, and refuses unknown ones', () => {
    const { runtime } = createFakeOpenvino({ devices: ['CPU', 'NPU'] })
    const core = new runtime.Core()
    expect(core.getProperty('NPU', 'FULL_DEVICE_NAME')).toMatch(/NPU/)
    expect(core.getProperty('NPU', 'NPU_COMPILER_VERSION')).toBe(7 * 65536 + 21)
    expect(() => core.getProperty('NPU', 'NO_SUCH_PROPERTY')).toThrow(
      'Unsupported property NO_SUCH_PROPERTY by NPU plugin',
    )
    expect(() => core.getProperty('GPU', 'FULL_DEVICE_NAME')).toThrow(/"GPU" name is not registered/)
  })
})

describe('fake openvino-node: AsyncInferQueue errors (async_infer_queue.cpp)', () => {
  it('2026 addons: a failure inside a started request reaches the callback and the promise; the request is reused', async () => {
    const { fake, compiled } = await compiledCls({ faults: [{ kind: 'native-error', count: 1 }] })
    const queue = new fake.runtime.AsyncInferQueue(compiled, 1)
    const calls = callbackOf(queue)
    await expect(queue.startAsync({ x: clsTensor(fake) }, {})).rejects.toThrow(/fake native failure/)
    expect(calls[0]!.error?.message).toMatch(/fake native failure/)
    await queue.startAsync({ x: clsTensor(fake) }, {})
    expect(calls[1]!.error).toBeNull()
    expect(calls[1]!.request.getTensor(CLS_OUTPUT).getShape()).toEqual([1, 2])
  })

  it('older addons: the failure is lost on the native thread, nothing settles, and the request stays busy', async () => {
    const { fake, compiled } = await compiledCls({
      errorDelivery: 'lost',
      faults: [{ kind: 'native-error', count: 1 }],
    })
    const queue = new fake.runtime.AsyncInferQueue(compiled, 1)
    const calls = callbackOf(queue)
    let settled = 0
    queue.startAsync({ x: clsTensor(fake) }, {}).finally(() => settled++)
    queue.startAsync({ x: clsTensor(fake) }, {}).finally(() => settled++)
    await vi.waitFor(() => expect(fake.nativeErrors).toHaveLength(1))
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect([settled, calls.length, fake.queues[0]!.running]).toEqual([0, 0, 1])
  })

  it('2026 addons: a tensor the request refuses rejects the promise and returns the request to the pool', async () => {
    const { fake, compiled } = await compiledCls({})
    const queue = new fake.runtime.AsyncInferQueue(compiled, 1)
    callbackOf(queue)
    const wrong = new fake.runtime.Tensor('i32', [1, 3, 48, 192], new Int32Array(3 * 48 * 192))
    await expect(queue.startAsync({ x: wrong }, {})).rejects.toThrow(/element type is not corresponding/)
    await expect(queue.startAsync({ x: clsTensor(fake) }, {})).resolves.toBeDefined()
  })

  it('older addons: a refused tensor throws at once and its request never returns to the pool', async () => {
    const { fake, compiled } = await compiledCls({ errorDelivery: 'lost' })
    const queue = new fake.runtime.AsyncInferQueue(compiled, 1)
    const calls = callbackOf(queue)
    const wrong = new fake.runtime.Tensor('i32', [1, 3, 48, 192], new Int32Array(3 * 48 * 192))
    expect(() => queue.startAsync({ x: wrong }, {})).toThrow(/element type is not corresponding/)
    let settled = false
    queue.startAsync({ x: clsTensor(fake) }, {}).finally(() => (settled = true))
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect([settled, calls.length]).toEqual([false, 0])
  })

  it('refuses to start without a callback, and records a request completing after release() (the real process aborts)', async () => {
    const { fake, compiled } = await compiledCls({ faults: [{ kind: 'delay', ms: 50, count: 1 }] })
    const bare = new fake.runtime.AsyncInferQueue(compiled, 1)
    await expect(bare.startAsync({ x: clsTensor(fake) }, {})).rejects.toThrow(
      "Callback has to be set before starting inference. Use 'setCallback' method.",
    )
    const queue = new fake.runtime.AsyncInferQueue(compiled as OvCompiledModel, 1)
    callbackOf(queue)
    void queue.startAsync({ x: clsTensor(fake) }, {})
    queue.release()
    await vi.waitFor(() => expect(fake.aborts).toHaveLength(1))
  })

  it('a hang fault keeps its request busy forever; drift adds its offset to every output', async () => {
    const { fake, compiled } = await compiledCls({
      faults: [
        { kind: 'hang', count: 1 },
        { kind: 'drift', offset: 0.25 },
      ],
    })
    const hung = new fake.runtime.AsyncInferQueue(compiled, 1)
    let settled = false
    callbackOf(hung)
    hung.startAsync({ x: clsTensor(fake) }, {}).finally(() => (settled = true))
    const clean = await compiledCls({})
    const queues = [
      new fake.runtime.AsyncInferQueue(compiled, 1),
      new clean.fake.runtime.AsyncInferQueue(clean.compiled, 1),
    ]
    const outputs: number[][] = []
    for (const [i, queue] of queues.entries()) {
      queue.setCallback((_, request) =>
        outputs.push(Array.from(request.getTensor(CLS_OUTPUT).getData() as Float32Array)),
      )
      await queue.startAsync({ x: clsTensor(i === 0 ? fake : clean.fake) }, {})
    }
    expect(settled).toBe(false)
    expect(outputs[0]![0]).toBeCloseTo(outputs[1]![0]! + 0.25, 5)
  })
})

describe('fake openvino-node: the FP16 NPU', () => {
  it('computes the NPU in half precision and the CPU in FP32', async () => {
    const run = async (device: string) => {
      const { fake, compiled } = await compiledCls({ devices: ['CPU', 'NPU'] }, device)
      const queue = new fake.runtime.AsyncInferQueue(compiled, 1)
      let out: number[] = []
      queue.setCallback(
        (_, request) => (out = Array.from(request.getTensor(CLS_OUTPUT).getData() as Float32Array)),
      )
      await queue.startAsync({ x: clsTensor(fake, 5) }, {})
      return out
    }
    const [cpu, npu] = [await run('CPU'), await run('NPU')]
    expect(npu).not.toEqual(cpu)
    for (const [i, v] of npu.entries()) expect(Math.abs(v - cpu[i]!)).toBeLessThan(1e-2)
    expect((await compiledCls({ devices: ['NPU'] }, 'NPU')).fake.compilations[0]!.precision).toBe('f16')
  })
})
