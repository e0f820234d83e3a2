// The OpenVINO backend against a fake of openvino-node (src/testing/fake-openvino.ts) that runs the real model
// with onnxruntime-node in-process. The same backend on the real runtime: openvino-real-runtime.test.ts.
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { toleranceFor } from '@npu-fleet/protocol'
import { afterAll, describe, expect, it } from 'vitest'
import { OpenvinoBackend } from '../../src/backends/openvino.js'
import { createFakeOpenvino } from '../../src/testing/fake-openvino.js'
import {
  CLS_OUTPUT,
  clsInput,
  clsSpec,
  describeBackendContract,
  expectClose,
  referenceOutput,
} from './backend-contract.js'

const NPU_SHAPES = { x: [1, 3, 48, 192] }
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

  it('passes the hint, the cache folder (created) and CPU threads to compileModel as strings', async () => {
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
