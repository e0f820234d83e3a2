// Needs the compiled thread entry (dist/backends/onnxruntime-thread.js): build first, as for onnxruntime.test.ts.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { LoadedModel, ModelLoadSpec } from '../../src/backends/backend.js'
import { OnnxRuntimeBackend } from '../../src/backends/onnxruntime.js'
import { prepareGoldenCase } from '../../src/models/golden-case.js'
import { CPU_GOLDEN_DIM_LIMIT, cpuGoldenShapes } from '../../src/models/golden-input.js'
import { ModelManifestSchema } from '../../src/models/model-manifest.js'
import type { ModelVersionSpec } from '../../src/models/model-repository.js'
import { ELEMENT_TYPE, OnnxGraphBuilder, valueInfo } from '../../src/models/onnx-graph-builder.js'
import { runSelfTest } from '../../src/models/self-test.js'
import { DIST_THREAD_ENTRIES } from '../helpers/thread-entries.js'

// The golden case of a model ONNX Runtime serves, on real ONNX Runtime sessions: a small input within the model's
// dynamic dimensions instead of the NPU's static shape (so the self-test never grows a served session's arena),
// and the static shape where the model refuses the small one.

describe('cpuGoldenShapes', () => {
  it('cuts the dimensions the model leaves dynamic, keeps its fixed ones and small ones', () => {
    const inputs = [
      { name: 'x', datatype: 'FP32' as const, shape: [-1, 3, -1, -1] },
      { name: 'ids', datatype: 'INT64' as const, shape: [-1, -1] },
      { name: 'bare', datatype: 'FP32' as const, shape: [-1, 8] },
    ]
    expect(cpuGoldenShapes(inputs, { x: [1, 3, 640, 640], ids: [16, 128] })).toEqual({
      x: [1, 3, CPU_GOLDEN_DIM_LIMIT, CPU_GOLDEN_DIM_LIMIT],
      ids: [16, CPU_GOLDEN_DIM_LIMIT],
    })
    // A dimension fixed in the model keeps the static value even above the limit; one below it is kept.
    expect(
      cpuGoldenShapes([{ name: 'x', datatype: 'FP32', shape: [-1, 3, 48, -1] }], { x: [1, 3, 48, 32] }),
    ).toEqual({
      x: [1, 3, 48, 32],
    })
    expect(cpuGoldenShapes([{ name: 'x', datatype: 'FP32', shape: [-1, 96] }], { x: [1, 96] })).toEqual({
      x: [1, 96],
    })
  })
})

describe('prepareGoldenCase on ONNX Runtime (real sessions)', () => {
  const backend = new OnnxRuntimeBackend({ threadEntry: DIST_THREAD_ENTRIES.onnxruntime })
  const opened: LoadedModel[] = []
  let dir = ''

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'golden-case-'))
  })
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((m) => m.unload()))
  })
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  /** Writes `model` as NAME/1/model.onnx with `yaml` as its model.yaml; returns its version spec. */
  function version(name: string, model: Uint8Array, yaml: Record<string, unknown>): ModelVersionSpec {
    mkdirSync(join(dir, name, '1'), { recursive: true })
    const modelPath = join(dir, name, '1', 'model.onnx')
    writeFileSync(modelPath, model)
    return {
      name,
      version: '1',
      manifest: ModelManifestSchema.parse(yaml),
      modelPath,
      modelDir: join(dir, name),
    }
  }

  function loadSpec(spec: ModelVersionSpec): ModelLoadSpec {
    return {
      name: spec.name,
      version: spec.version,
      modelPath: spec.modelPath,
      device: 'CPU',
      threads: 1,
      instances: 2,
      performanceHint: 'LATENCY',
      cacheDir: null,
      inferTimeoutMs: 30_000,
    }
  }

  async function goldenOf(spec: ModelVersionSpec) {
    const loaded = await backend.load(loadSpec(spec))
    opened.push(loaded)
    const golden = await prepareGoldenCase({
      spec,
      loaded,
      loadedPath: spec.modelPath,
      reference: backend,
      referenceSpec: () => loadSpec(spec),
      limitMs: 30_000,
    })
    return { loaded, golden }
  }

  it('runs an image model at 1x3x64x64, not its static 1x3x640x640, and later runs compare with that answer', async () => {
    // y = 3x3 convolution of x: every output depends on its neighbours, so the answer is the model's, not the input.
    const g = new OnnxGraphBuilder()
    const weights = Float32Array.from({ length: 2 * 3 * 9 }, (_, i) => Math.cos(i))
    g.op('Conv', ['x', g.floats('w', [2, 3, 3, 3], weights)], [], 'y')
    const model = g.encode({
      name: 'conv',
      opset: 17,
      inputs: [valueInfo('x', ELEMENT_TYPE.FLOAT, ['n', 3, 'h', 'w'])],
      outputs: [valueInfo('y', ELEMENT_TYPE.FLOAT, ['n', 2, 'h2', 'w2'])],
    })
    const spec = version('conv', model, { static_shapes: { x: [1, 3, 640, 640] } })
    const { loaded, golden } = await goldenOf(spec)
    expect(golden.inputs.x?.shape).toEqual([1, 3, 64, 64])
    expect(golden.expected?.y?.shape).toEqual([1, 2, 62, 62])
    expect(golden).toMatchObject({ reference: 'onnxruntime_cpu', fromServedModel: true })
    expect(golden.note).toBe('reference: the answer of this ONNX Runtime session at load to x [1,3,64,64]')
    // Both served sessions give that answer (the self-test lands on either).
    for (let i = 0; i < 2; i++) {
      expect(await runSelfTest(loaded, golden, 30_000)).toMatchObject({ result: 'pass', mismatches: 0 })
    }
  })

  it('falls back to the static shapes when the model refuses the small input, and says so', async () => {
    // Reshape to rows of 128 takes a sequence of 128 (the static shape) but not one of 64.
    const g = new OnnxGraphBuilder()
    g.op('Mul', [g.op('Reshape', ['x', g.ints('rows', [-1, 128])]), g.scalar('two', 2)], [], 'y')
    const model = g.encode({
      name: 'rows',
      opset: 17,
      inputs: [valueInfo('x', ELEMENT_TYPE.FLOAT, ['n', 's'])],
      outputs: [valueInfo('y', ELEMENT_TYPE.FLOAT, ['r', 128])],
    })
    const spec = version('rows', model, { static_shapes: { x: [1, 128] } })
    const { loaded, golden } = await goldenOf(spec)
    expect(golden.inputs.x?.shape).toEqual([1, 128])
    expect(golden).toMatchObject({ reference: 'onnxruntime_cpu', fromServedModel: true })
    expect(golden.note).toMatch(
      /^reference: the answer of this ONNX Runtime session at load to x \[1,128\], the static shapes \(the small golden input x \[1,64\]: the golden input failed on ONNX Runtime \(CPU\): .+ cannot be reshaped .+\)$/s,
    )
    expect(await runSelfTest(loaded, golden, 30_000)).toMatchObject({ result: 'pass' })
  })
})
