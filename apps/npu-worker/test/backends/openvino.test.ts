// The OpenVINO backend against a fake of openvino-node (src/testing/fake-openvino.ts) that runs the real model
// with onnxruntime-node in-process. The same backend on the real runtime: openvino-real-runtime.test.ts.
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { compareOutputs, TOLERANCE_OF_PRECISION, toleranceFor } from '@npu-fleet/protocol'
import { afterAll, describe, expect, it } from 'vitest'
import { OpenvinoBackend } from '../../src/backends/openvino.js'
import { fromHalfBits, toHalfBits } from '../../src/kserve/half-float.js'
import { createFakeOpenvino } from '../../src/testing/fake-openvino.js'
import { writeTypedIoModel } from '../helpers/typed-io-model.js'
import { GENERATED_MODELS_DIR } from '../helpers/worker-process.js'
import {
  CLS_MODEL_PATH,
  CLS_OUTPUT,
  clsInput,
  clsSpec,
  describeBackendContract,
  expectClose,
  referenceOutput,
} from './backend-contract.js'

const NPU_SHAPES = { x: [1, 3, 48, 192] }
const MLP_PATH = join(GENERATED_MODELS_DIR, 'mlp', '1', 'model.onnx')
const BERT_PATH = join(GENERATED_MODELS_DIR, 'tiny-bert-embed', '1', 'model.onnx')
/** The release self-test's input (scripts/release/make-selftest-fixture.mjs). */
const MLP_FIXTURE = Array.from({ length: 384 }, (_, i) => Math.sin(i * 0.37) * 1.5 + (i % 7) * 0.1)
/** The fake NPU computes in FP16, as the real one does. */
const NPU_TOLERANCE = toleranceFor('NPU')

describeBackendContract('openvino (fake runtime) on CPU', {
  backend: () => new OpenvinoBackend({ runtime: createFakeOpenvino({ devices: ['CPU'] }).runtime }),
  spec: clsSpec({ device: 'CPU' }),
})

describeBackendContract('openvino (fake runtime) on NPU, static batch 1', {
  backend: () => new OpenvinoBackend({ runtime: createFakeOpenvino({ devices: ['CPU', 'NPU'] }).runtime }),
  spec: clsSpec({ device: 'NPU', staticShapes: NPU_SHAPES }),
})

describe('OpenvinoBackend with the fake runtime', () => {
  const dirs: string[] = []
  afterAll(async () => {
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })))
  })

  it('probes the devices and version of the runtime', async () => {
    const fake = createFakeOpenvino({ devices: ['CPU', 'GPU.0', 'NPU'] })
    expect(await new OpenvinoBackend({ runtime: fake.runtime }).probe()).toEqual({
      available: true,
      version: '2026.4.0-fake',
      devices: ['CPU', 'GPU.0', 'NPU'],
      error: null,
    })
  })

  it('refuses a device the runtime does not have, naming those it has', async () => {
    const backend = new OpenvinoBackend({ runtime: createFakeOpenvino({ devices: ['CPU'] }).runtime })
    await expect(backend.load(clsSpec({ device: 'NPU', staticShapes: NPU_SHAPES }))).rejects.toThrow(
      'OpenVINO device NPU is not available (available: CPU)',
    )
  })

  it('accepts a device family name for enumerated devices (GPU for GPU.0)', async () => {
    const backend = new OpenvinoBackend({
      runtime: createFakeOpenvino({ devices: ['CPU', 'GPU.0'] }).runtime,
    })
    const model = await backend.load(clsSpec({ device: 'GPU' }))
    expect(model.device).toBe('GPU')
    await backend.close()
  })

  it('refuses a dynamic input on the NPU without static_shapes, saying what to set', async () => {
    const backend = new OpenvinoBackend({ runtime: createFakeOpenvino({ devices: ['CPU', 'NPU'] }).runtime })
    await expect(backend.load(clsSpec({ device: 'NPU' }))).rejects.toThrow(
      'input "x" of ppocr-cls has dynamic shape [?,3,?,?] and the NPU compiles static shapes only: set static_shapes.x in model.yaml',
    )
  })

  it('refuses static_shapes that name no input or do not fit the input', async () => {
    const backend = new OpenvinoBackend({ runtime: createFakeOpenvino({ devices: ['CPU', 'NPU'] }).runtime })
    await expect(
      backend.load(clsSpec({ device: 'NPU', staticShapes: { y: [1, 3, 48, 192] } })),
    ).rejects.toThrow(/static_shapes names "y", which is not an input of ppocr-cls \(inputs: x\)/)
    await expect(
      backend.load(clsSpec({ device: 'NPU', staticShapes: { x: [1, 4, 48, 192] } })),
    ).rejects.toThrow(/static_shapes.x \[1,4,48,192\] does not fit input "x" of shape \[-1,3,-1,-1\]/)
  })

  it('compiles the NPU model static, and runs a larger batch as batch-1 inferences', async () => {
    const fake = createFakeOpenvino({ devices: ['CPU', 'NPU'] })
    const backend = new OpenvinoBackend({ runtime: fake.runtime })
    const model = await backend.load(clsSpec({ device: 'NPU', staticShapes: NPU_SHAPES, instances: 4 }))
    expect(fake.compilations.at(-1)).toMatchObject({ device: 'NPU', inputShapes: { x: [1, 3, 48, 192] } })
    expect(model.inputs[0]!.shape).toEqual([1, 3, 48, 192])
    expect(model.outputs[0]!.shape).toEqual([1, 2])
    expect(model.compiledBatchSizes).toEqual([1])
    const input = clsInput(5, 77)
    const out = (await model.infer({ x: input }))[CLS_OUTPUT]!
    expect(out.shape).toEqual([5, 2])
    expectClose(out.data as Float32Array, await referenceOutput(input), NPU_TOLERANCE)
    await backend.close()
  })

  it('refuses a batch that a static batch > 1 cannot take, and a wrong fixed dimension', async () => {
    const backend = new OpenvinoBackend({ runtime: createFakeOpenvino({ devices: ['CPU'] }).runtime })
    const model = await backend.load(clsSpec({ staticShapes: { x: [2, 3, 48, 192] } }))
    expect(model.compiledBatchSizes).toEqual([2])
    const two = clsInput(2, 5)
    expectClose((await model.infer({ x: two }))[CLS_OUTPUT]!.data as Float32Array, await referenceOutput(two))
    await expect(model.infer({ x: clsInput(3, 5) })).rejects.toThrow(
      'input "x" has shape [3,3,48,192]; ppocr-cls is compiled on CPU for [2,3,48,192] (-1 is dynamic)',
    )
    const narrow = {
      datatype: 'FP32' as const,
      shape: [2, 3, 48, 100],
      data: new Float32Array(2 * 3 * 48 * 100),
    }
    await expect(model.infer({ x: narrow })).rejects.toThrow(/compiled on CPU for \[2,3,48,192\]/)
    await backend.close()
  })

  it('refuses unknown, missing and mis-sized inputs before they reach the native queue', async () => {
    const backend = new OpenvinoBackend({ runtime: createFakeOpenvino().runtime })
    const model = await backend.load(clsSpec())
    const x = clsInput(1, 1)
    await expect(model.infer({ x, extra: x })).rejects.toThrow('unknown input "extra"; inputs: x')
    await expect(model.infer({})).rejects.toThrow('missing input "x"')
    await expect(model.infer({ x: { ...x, shape: [2, 3, 48, 192] } })).rejects.toThrow(
      'input "x" has 27648 elements for shape [2,3,48,192]',
    )
    await backend.close()
  })

  it('sizes the request pool by min(instances, OPTIMAL_NUMBER_OF_INFER_REQUESTS)', async () => {
    const fake = createFakeOpenvino({ devices: ['CPU', 'NPU'] })
    const backend = new OpenvinoBackend({ runtime: fake.runtime })
    const latency = await backend.load(clsSpec({ device: 'NPU', staticShapes: NPU_SHAPES, instances: 3 }))
    const throughput = await backend.load(
      clsSpec({ device: 'NPU', staticShapes: NPU_SHAPES, instances: 3, performanceHint: 'THROUGHPUT' }),
    )
    const wide = await backend.load(clsSpec({ instances: 8, performanceHint: 'THROUGHPUT' }))
    expect([latency.parallelism, throughput.parallelism, wide.parallelism]).toEqual([1, 3, 4])
    expect(fake.queues.map((q) => q.jobs)).toEqual([1, 3, 4])
    // Eight concurrent calls on the 3-request pool: all correct, and the pool really ran them side by side.
    const inputs = Array.from({ length: 8 }, (_, i) => clsInput(1, 300 + i))
    const results = await Promise.all(inputs.map((x) => throughput.infer({ x })))
    for (const [i, r] of results.entries()) {
      expectClose(r[CLS_OUTPUT]!.data as Float32Array, await referenceOutput(inputs[i]!), NPU_TOLERANCE)
    }
    expect(fake.queues[1]!.maxRunning).toBeGreaterThan(1)
    expect(fake.queues[1]!.maxRunning).toBeLessThanOrEqual(3)
    await backend.close()
  })

  it('passes the hint, the cache folder (which it creates itself) and CPU threads to compileModel as strings', async () => {
    const root = await mkdtemp(join(tmpdir(), 'ov-cache-'))
    dirs.push(root)
    const cacheDir = join(root, 'nested', 'cache')
    const fake = createFakeOpenvino({ devices: ['CPU', 'NPU'] })
    const backend = new OpenvinoBackend({ runtime: fake.runtime })
    await backend.load(clsSpec({ device: 'CPU', threads: 3, cacheDir, performanceHint: 'THROUGHPUT' }))
    await backend.load(clsSpec({ device: 'NPU', staticShapes: NPU_SHAPES, cacheDir }))
    expect(fake.compilations.map((c) => c.config)).toEqual([
      { PERFORMANCE_HINT: 'THROUGHPUT', CACHE_DIR: cacheDir, INFERENCE_NUM_THREADS: '3' },
      { PERFORMANCE_HINT: 'LATENCY', CACHE_DIR: cacheDir },
    ])
    // The backend made the folder before compiling (OpenVINO would too, but then a permission problem would
    // surface as an OpenVINO error instead of naming the folder).
    expect(fake.compilations.map((c) => c.cacheDirExisted)).toEqual([true, true])
    await backend.close()
  })

  it('populates CACHE_DIR so that the next start of the same model is a cache hit', async () => {
    const cacheDir = await mkdtemp(join(tmpdir(), 'ov-cache-'))
    dirs.push(cacheDir)
    const fake = createFakeOpenvino({ devices: ['CPU', 'NPU'] })
    const spec = clsSpec({ device: 'NPU', staticShapes: NPU_SHAPES, cacheDir })
    const first = new OpenvinoBackend({ runtime: fake.runtime })
    await first.load(spec)
    await first.close()
    const blobs = (await readdir(cacheDir)).filter((f) => f.endsWith('.blob'))
    expect(blobs).toHaveLength(1)
    const second = new OpenvinoBackend({ runtime: fake.runtime })
    const model = await second.load(spec)
    expect(fake.compilations.map((c) => c.cacheHit)).toEqual([false, true])
    const input = clsInput(1, 8)
    expectClose(
      (await model.infer({ x: input }))[CLS_OUTPUT]!.data as Float32Array,
      await referenceOutput(input),
      NPU_TOLERANCE,
    )
    await second.close()
  })

  it('reports why a model file cannot be read', async () => {
    const backend = new OpenvinoBackend({ runtime: createFakeOpenvino().runtime })
    await expect(backend.load(clsSpec({ modelPath: '/nonexistent/model.onnx' }))).rejects.toThrow(
      /^OpenVINO cannot read \/nonexistent\/model\.onnx: .+/,
    )
  })
})

describe('OpenvinoBackend: precision, shapes and element types', () => {
  const dirs: string[] = []
  afterAll(async () => {
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })))
  })

  it('reports the precision from INFERENCE_PRECISION_HINT, else the device default', async () => {
    const backend = new OpenvinoBackend({ runtime: createFakeOpenvino({ devices: ['CPU', 'NPU'] }).runtime })
    expect((await backend.load(clsSpec({ device: 'NPU', staticShapes: NPU_SHAPES }))).precision).toBe('FP16')
    expect((await backend.load(clsSpec({ device: 'CPU' }))).precision).toBe('FP32')
    await backend.close()
    const silent = new OpenvinoBackend({
      runtime: createFakeOpenvino({ devices: ['CPU', 'NPU'], reportPrecisionHint: false }).runtime,
    })
    expect((await silent.load(clsSpec({ device: 'NPU', staticShapes: NPU_SHAPES }))).precision).toBe('FP16')
    await silent.close()
  })

  it("the fake NPU answers as an FP16 device: outside the FP32 tolerance of the mlp, inside FP16's", async () => {
    const fake = createFakeOpenvino({ devices: ['CPU', 'NPU'] })
    const backend = new OpenvinoBackend({ runtime: fake.runtime })
    const spec = {
      ...clsSpec(),
      name: 'mlp',
      modelPath: MLP_PATH,
      staticShapes: { input: [1, 384] },
    }
    const npu = await backend.load({ ...spec, device: 'NPU' })
    const cpu = await backend.load({ ...spec, device: 'CPU' })
    const input = { datatype: 'FP32' as const, shape: [1, 384], data: Float32Array.from(MLP_FIXTURE) }
    const a = (await npu.infer({ input })).output!.data as Float32Array
    const e = (await cpu.infer({ input })).output!.data as Float32Array
    expect(compareOutputs(a, e, TOLERANCE_OF_PRECISION.FP32)).toMatchObject({ ok: false, mismatches: 2 })
    expect(compareOutputs(a, e, TOLERANCE_OF_PRECISION[npu.precision]).ok).toBe(true)
    await backend.close()
  })

  it('serves FP16 and BOOL ports, converted at the boundary by PrePostProcessor, on the CPU and the NPU', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ov-typed-'))
    dirs.push(dir)
    const modelPath = join(dir, 'typed.onnx')
    writeTypedIoModel(modelPath)
    for (const device of ['CPU', 'NPU']) {
      const fake = createFakeOpenvino({ devices: ['CPU', 'NPU'] })
      const backend = new OpenvinoBackend({ runtime: fake.runtime })
      const model = await backend.load({ ...clsSpec(), name: 'typed', modelPath, device })
      expect(model.inputs.map((i) => [i.name, i.datatype])).toEqual([
        ['half', 'FP16'],
        ['flag', 'BOOL'],
      ])
      expect(model.outputs.map((o) => [o.name, o.datatype])).toEqual([
        ['doubled', 'FP16'],
        ['inverted', 'BOOL'],
      ])
      // Input element types are known only once compiled: the first compile finds f16/boolean inputs and the
      // model is compiled again with the conversions; callers exchange f32 and u8.
      expect(fake.compilations).toHaveLength(2)
      expect(fake.compilations[1]!.tensorElements).toEqual({
        half: 'f32',
        flag: 'u8',
        doubled: 'f32',
        inverted: 'u8',
      })
      const half = Uint16Array.from([1, 2.5, -3, 0.5], toHalfBits)
      const out = await model.infer({
        half: { datatype: 'FP16', shape: [1, 4], data: half },
        flag: { datatype: 'BOOL', shape: [1, 4], data: Uint8Array.from([1, 0, 1, 0]) },
      })
      expect(out.doubled!.datatype).toBe('FP16')
      expect(Array.from(out.doubled!.data as Uint16Array, fromHalfBits)).toEqual([2, 5, -6, 1])
      expect(out.inverted).toEqual({ datatype: 'BOOL', shape: [1, 4], data: Uint8Array.from([0, 1, 0, 1]) })
      await backend.close()
    }
  })

  it('gives a multi-input model static shapes through PrePostProcessor (there is no per-input reshape)', async () => {
    const fake = createFakeOpenvino({ devices: ['CPU', 'NPU'] })
    const backend = new OpenvinoBackend({ runtime: fake.runtime })
    const shape = [1, 128]
    const model = await backend.load({
      ...clsSpec(),
      name: 'tiny-bert-embed',
      modelPath: BERT_PATH,
      device: 'NPU',
      staticShapes: { input_ids: shape, attention_mask: shape, token_type_ids: shape },
    })
    expect(fake.compilations[0]!.inputShapes).toEqual({
      input_ids: shape,
      attention_mask: shape,
      token_type_ids: shape,
    })
    expect(model.inputs.map((i) => i.shape)).toEqual([shape, shape, shape])
    const ids = new BigInt64Array(128).fill(1n)
    const out = await model.infer({
      input_ids: { datatype: 'INT64', shape, data: ids },
      attention_mask: { datatype: 'INT64', shape, data: new BigInt64Array(128).fill(1n) },
      token_type_ids: { datatype: 'INT64', shape, data: new BigInt64Array(128) },
    })
    expect(out.last_hidden_state!.shape).toEqual([1, 128, 128])
    await backend.close()
  })

  it('fills TensorInfo.bounds from IR intervals and refuses dimensions outside them, and zero-sized ones', async () => {
    const fake = createFakeOpenvino({ partialShapes: { [CLS_MODEL_PATH]: { x: '[1..4,3,48,192]' } } })
    const backend = new OpenvinoBackend({ runtime: fake.runtime })
    const model = await backend.load(clsSpec())
    expect(model.inputs[0]).toMatchObject({ shape: [-1, 3, 48, 192], bounds: [[1, 4], null, null, null] })
    const two = clsInput(2, 4)
    expectClose((await model.infer({ x: two }))[CLS_OUTPUT]!.data as Float32Array, await referenceOutput(two))
    await expect(model.infer({ x: clsInput(5, 4) })).rejects.toThrow(
      'input "x" has shape [5,3,48,192]; ppocr-cls is compiled on CPU for [-1,3,48,192] within [1..4,3,48,192] (-1 is dynamic)',
    )
    await expect(
      model.infer({ x: { datatype: 'FP32', shape: [1, 3, 0, 192], data: new Float32Array(0) } }),
    ).rejects.toThrow('input "x" has a zero-sized dimension in [1,3,0,192]')
    await expect(backend.load(clsSpec({ staticShapes: { x: [8, 3, 48, 192] } }))).rejects.toThrow(
      /static_shapes.x \[8,3,48,192\] does not fit input "x" of shape \[-1,3,48,192\] \(bounds \[1..4,3,48,192\]\)/,
    )
    await backend.close()
  })

  it('says which operator the NPU cannot compile', async () => {
    const backend = new OpenvinoBackend({
      runtime: createFakeOpenvino({ devices: ['CPU', 'NPU'], unsupportedOps: { NPU: ['HardSigmoid'] } })
        .runtime,
    })
    await expect(backend.load(clsSpec({ device: 'NPU', staticShapes: NPU_SHAPES }))).rejects.toThrow(
      /^OpenVINO cannot compile ppocr-cls for NPU: \[NPU\] Cannot compile model: operation .* of type HardSigmoid/,
    )
    await expect(backend.load(clsSpec({ device: 'CPU' }))).resolves.toBeDefined()
    await backend.close()
  })
})
