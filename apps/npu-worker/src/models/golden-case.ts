import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { formatIssues, RequestInputSchema, ResponseOutputSchema } from '@npu-fleet/protocol'
import { z } from 'zod'
import type { InferenceBackend, LoadedModel, ModelLoadSpec } from '../backends/backend.js'
import type { Tensor } from '../backends/tensor.js'
import { tensorFromElements } from '../kserve/tensor-codec.js'
import { cpuGoldenShapes, goldenInputs } from './golden-input.js'
import { staticShapesFor } from './model-load-spec.js'
import type { ModelVersionSpec } from './model-repository.js'
import { type GoldenCase, tensorNumbers } from './self-test.js'

/** A shipped sample: KServe inputs and the outputs they must produce, both with data. */
const SampleSchema = z.object({
  inputs: z.array(RequestInputSchema).min(1),
  outputs: z.array(ResponseOutputSchema).min(1),
})

/** Reads a shipped sample (`self_test.sample`); throws with the file and field named. */
export function readSample(path: string): {
  inputs: Record<string, Tensor>
  expected: Record<string, Tensor>
} {
  const parsed = SampleSchema.safeParse(JSON.parse(readFileSync(path, 'utf8')))
  if (!parsed.success) throw new Error(formatIssues(parsed.error, path))
  const decode = (tensors: z.infer<typeof SampleSchema>['inputs'], field: string) =>
    Object.fromEntries(
      tensors.map((t, i) => {
        if (t.data === undefined) throw new Error(`${path}: ${field}[${i}].data: missing`)
        return [t.name, tensorFromElements(t.data, t.datatype, t.shape, `${path}: ${field}[${i}].data`)]
      }),
    )
  return { inputs: decode(parsed.data.inputs, 'inputs'), expected: decode(parsed.data.outputs, 'outputs') }
}

/** The ONNX file a reference can be computed from: the model itself, or an IR's sibling `.onnx`. */
export function referenceOnnxPath(modelPath: string): string | null {
  if (modelPath.endsWith('.onnx')) return modelPath
  const sibling = modelPath.replace(/\.xml$/, '.onnx')
  return sibling !== modelPath && existsSync(sibling) ? sibling : null
}

/** What {@link prepareGoldenCase} needs. */
export interface GoldenCaseOptions {
  spec: ModelVersionSpec
  /** The model as the device loaded it (its input shapes decide the golden input's). */
  loaded: LoadedModel
  /** The file `loaded` was loaded from (an IR's sibling `.onnx` when ONNX Runtime serves it). */
  loadedPath: string
  /** ONNX Runtime, for a reference session on the CPU (loaded, run once, released). */
  reference: InferenceBackend
  /** Load spec of the reference session for an ONNX file. */
  referenceSpec: (onnxPath: string) => ModelLoadSpec
  /** Limit of the reference computation (ms). */
  limitMs: number
}

/**
 * The golden case of a loaded model: a shipped sample when model.yaml names one; else the generated golden
 * input (golden-input.ts, the one `npu-worker doctor` runs) whose reference output is computed with ONNX Runtime
 * on the CPU now, off the event loop (its worker threads). When ONNX Runtime serves the model itself, the golden
 * input is a small one within its dynamic dimensions (cpuGoldenShapes) and the served session's answer at load
 * is the reference. Never throws: a case without a reference says why in `note`.
 */
export async function prepareGoldenCase(options: GoldenCaseOptions): Promise<GoldenCase> {
  const { spec, loaded } = options
  const sample = spec.manifest.self_test?.sample
  if (sample) {
    const folders = [...new Set([join(spec.modelPath, '..'), spec.modelDir])]
    const path = folders.map((folder) => join(folder, sample)).find((p) => existsSync(p))
    if (!path) {
      return noReference(`self_test.sample ${sample} not found in ${folders.join(' or ')}`)
    }
    try {
      const { inputs, expected } = readSample(path)
      return {
        inputs,
        expected,
        reference: 'shipped',
        note: `reference shipped in ${sample}`,
        fromServedModel: false,
      }
    } catch (error) {
      return noReference(`self_test.sample ${sample} is unusable: ${(error as Error).message}`)
    }
  }
  const onnx = referenceOnnxPath(options.loadedPath) ?? referenceOnnxPath(spec.modelPath)
  // The shapes the device compiled (static_shapes, batch as batching compiles it), the same the doctor uses.
  const staticShapes = staticShapesFor(spec.manifest) ?? {}
  if (!onnx) {
    const inputs = goldenInputs(loaded.inputs, staticShapes)
    return {
      inputs,
      expected: null,
      reference: null,
      note: 'no reference: an OpenVINO IR model with neither a sibling .onnx nor model.yaml self_test.sample',
      fromServedModel: false,
    }
  }
  const sameRuntime = loaded.backend === 'onnxruntime' && onnx === options.loadedPath
  if (!sameRuntime) {
    const inputs = goldenInputs(loaded.inputs, staticShapes)
    const outcome = await referenceCase(inputs, false, () =>
      referenceOutputs(options.reference, options.referenceSpec(onnx), inputs, options.limitMs),
    )
    return outcome.ok ? outcome.golden : withoutReference(inputs, outcome.reason)
  }
  // ONNX Runtime serves the model: its sessions take any size within their dynamic dimensions, so the golden
  // input is a small one (cpuGoldenShapes) that never raises a served session's arena above its traffic's
  // peak; the reference is this session's answer to it, so a later run that differs is still drift. A model
  // that refuses the small input gets the static shapes.
  const small = goldenInputs(loaded.inputs, cpuGoldenShapes(loaded.inputs, staticShapes))
  const first = await referenceCase(small, true, () => loaded.infer(small, undefined, { background: true }))
  if (first.ok) return first.golden
  // Only now the static-shape input: 46-71 ms of event loop for the detector's 1×3×640×640 (0.7-3.8 ms at 64×64).
  const inputs = goldenInputs(loaded.inputs, staticShapes)
  if (shapesOf(small) === shapesOf(inputs)) return withoutReference(small, first.reason)
  const second = await referenceCase(inputs, true, () =>
    loaded.infer(inputs, undefined, { background: true }),
  )
  if (!second.ok) return withoutReference(inputs, second.reason)
  return {
    ...second.golden,
    note: `${second.golden.note}, the static shapes (the small golden input ${shapesOf(small)}: ${first.reason})`,
  }
}

/**
 * The golden case of `inputs` with `run`'s outputs as its reference (`served`: the served session's own answer),
 * or why they cannot be one.
 */
async function referenceCase(
  inputs: Record<string, Tensor>,
  served: boolean,
  run: () => Promise<Record<string, Tensor>>,
): Promise<{ ok: true; golden: GoldenCase } | { ok: false; reason: string }> {
  let expected: Record<string, Tensor>
  try {
    expected = await run()
  } catch (error) {
    return { ok: false, reason: `the golden input failed on ONNX Runtime (CPU): ${(error as Error).message}` }
  }
  const infinite = Object.entries(expected).find(
    ([, t]) => t.datatype !== 'BYTES' && !Array.from(tensorNumbers(t)).every(Number.isFinite),
  )
  if (infinite) {
    return {
      ok: false,
      reason: `output "${infinite[0]}" is not finite for the generated golden input; ship a self_test.sample`,
    }
  }
  return {
    ok: true,
    golden: {
      inputs,
      expected,
      reference: 'onnxruntime_cpu',
      note: served
        ? `reference: the answer of this ONNX Runtime session at load to ${shapesOf(inputs)}`
        : 'reference computed with ONNX Runtime on the CPU at load',
      fromServedModel: served,
    },
  }
}

/** The golden input's shapes in words (`x [1,3,64,64]`), also to tell two golden inputs apart. */
function shapesOf(inputs: Record<string, Tensor>): string {
  return Object.entries(inputs)
    .map(([name, t]) => `${name} [${t.shape}]`)
    .join(', ')
}

function withoutReference(inputs: Record<string, Tensor>, reason: string): GoldenCase {
  return { inputs, expected: null, reference: null, note: `no reference: ${reason}`, fromServedModel: false }
}

function noReference(note: string): GoldenCase {
  return { inputs: {}, expected: null, reference: null, note, fromServedModel: false }
}

/** Loads a one-thread reference session, runs the golden input, and releases it. */
async function referenceOutputs(
  backend: InferenceBackend,
  spec: ModelLoadSpec,
  inputs: Record<string, Tensor>,
  limitMs: number,
): Promise<Record<string, Tensor>> {
  const model = await backend.load(spec)
  try {
    return await model.infer(inputs)
  } finally {
    // Bounded: the session's hard limit ends a stuck run, and unload waits at most that long.
    let timer: NodeJS.Timeout | undefined
    await Promise.race([
      model.unload(),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, limitMs)
        timer.unref()
      }),
    ]).finally(() => clearTimeout(timer))
  }
}
