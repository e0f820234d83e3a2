import { existsSync } from 'node:fs'
import { mkdtemp } from 'node:fs/promises'
import { join } from 'node:path'
import {
  compareOutputs,
  type DoctorModel,
  type DoctorOutputComparison,
  type InferencePrecision,
  TOLERANCE_OF_PRECISION,
} from '@npu-fleet/protocol'
import type { InferenceBackend } from '../backends/backend.js'
import type { Tensor } from '../backends/tensor.js'
import { goldenInputs } from '../models/golden-input.js'
import { loadSpecFor, type ModelDefaults, staticShapesFor } from '../models/model-load-spec.js'
import type { ModelVersionSpec } from '../models/model-repository.js'
import { tensorNumbers } from '../models/self-test.js'
import { withTimeLimit } from '../time-limit.js'
import { doctorModelOf } from './doctor-model.js'
import type { IsolatedRunner } from './openvino-isolated.js'
import { fromWire, mapValues, type OpenvinoSource, type ProbeResult } from './openvino-task.js'

/** What checking a model needs. */
export interface ModelCheckContext {
  openvino: ProbeResult
  source: OpenvinoSource
  runner: IsolatedRunner
  onnxruntime: InferenceBackend
  defaults: ModelDefaults
  requireNpu: boolean
  /** Limit of one OpenVINO compile (NPU compiles take seconds to minutes). */
  compileLimitMs: number
  /** Where the cold-compile CACHE_DIRs are made. */
  scratchDir: string
}

/** The numbers of a tensor (FP16 bits decoded, integers and booleans as numbers). */
function nonFinite(outputs: Record<string, Tensor>): string[] {
  return Object.entries(outputs)
    .filter(
      ([, t]) => t.datatype !== 'BYTES' && Array.from(tensorNumbers(t)).some((x) => !Number.isFinite(x)),
    )
    .map(([name]) => name)
}

/** The ONNX file ONNX Runtime can serve for this model: itself, or a `.onnx` beside an IR `.xml`. */
export function onnxReferenceOf(modelPath: string): string | null {
  if (modelPath.endsWith('.onnx')) return modelPath
  const sibling = modelPath.replace(/\.xml$/, '.onnx')
  return existsSync(sibling) ? sibling : null
}

interface ReferenceRun {
  inputs: Record<string, Tensor>
  outputs: Record<string, Tensor>
}

/** Runs `inputs` (or the golden input) on ONNX Runtime on the CPU: the reference, and the worker's fallback. */
async function runReference(
  spec: ModelVersionSpec,
  onnxPath: string,
  ctx: ModelCheckContext,
  inputs?: Record<string, Tensor>,
): Promise<ReferenceRun> {
  const load = { ...loadSpecFor(spec, 'CPU', ctx.defaults, null), modelPath: onnxPath, instances: 1 }
  const model = await withTimeLimit(
    ctx.onnxruntime.load(load),
    ctx.compileLimitMs,
    `loading ${spec.name} on ONNX Runtime`,
  )
  try {
    const feed = inputs ?? goldenInputs(model.inputs, staticShapesFor(spec.manifest) ?? {})
    const outputs = await withTimeLimit(
      model.infer(feed),
      load.inferTimeoutMs,
      `the golden inference of ${spec.name} on ONNX Runtime`,
    )
    return { inputs: feed, outputs }
  } finally {
    await withTimeLimit(model.unload(), load.inferTimeoutMs, `unloading ${spec.name}`).catch(() => {})
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

/** Checks one model version: compile on its preferred device, cold and warm, and its golden input. */
export async function checkModel(spec: ModelVersionSpec, ctx: ModelCheckContext): Promise<DoctorModel> {
  const preferred = spec.manifest.devices[0] ?? 'NPU'
  const onnxPath = onnxReferenceOf(spec.modelPath)
  const required = ctx.requireNpu && preferred === 'NPU'
  const base = doctorModelOf(spec, preferred)

  /** The worker's last resort: ONNX Runtime on the CPU. */
  const fallback = async (why: string): Promise<DoctorModel> => {
    const status = required ? 'fail' : 'warn'
    if (!onnxPath) {
      return { ...base, status: 'fail', detail: `${why}; no ONNX model to fall back to ONNX Runtime` }
    }
    try {
      const run = await runReference(spec, onnxPath, ctx)
      const bad = nonFinite(run.outputs)
      if (bad.length > 0) {
        return {
          ...base,
          status: 'fail',
          detail: `${why}; ONNX Runtime answers NaN/Inf in ${bad.join(', ')}`,
        }
      }
      return {
        ...base,
        status,
        backend: 'onnxruntime',
        device: 'CPU',
        precision: 'FP32',
        detail: `${why}; serves on ONNX Runtime CPU (fallback): golden input ran, outputs finite`,
      }
    } catch (err) {
      return { ...base, status: 'fail', detail: `${why}; ONNX Runtime fails too: ${messageOf(err)}` }
    }
  }

  if (!ctx.openvino.loaded) return fallback(`OpenVINO unavailable, so not on OpenVINO/${preferred}`)
  if (!ctx.openvino.devices.some((d) => d === preferred || d.startsWith(`${preferred}.`))) {
    return fallback(
      `${preferred} not listed by OpenVINO (devices: ${ctx.openvino.devices.join(', ') || 'none'})`,
    )
  }

  const cacheDir = await mkdtemp(join(ctx.scratchDir, `${spec.name}-cache-`))
  const load = loadSpecFor(spec, preferred, ctx.defaults, cacheDir)
  // Two compiles and one inference, plus process start-up: past this the child is killed.
  const limit = 2 * ctx.compileLimitMs + load.inferTimeoutMs + 30_000
  const result = await ctx.runner
    .run({ kind: 'model', source: ctx.source, spec: load, compileTimeoutMs: ctx.compileLimitMs }, limit)
    .catch((err): { kind: 'model'; ok: false; stage: 'compile'; error: string } => ({
      kind: 'model',
      ok: false,
      stage: 'compile',
      error: `the OpenVINO child process ${messageOf(err)}`,
    }))
  if (!result.ok) return fallback(`${result.stage} on ${preferred} failed: ${result.error}`)

  const device = result.device
  const precision = result.precision as InferencePrecision
  const tolerance = TOLERANCE_OF_PRECISION[precision] ?? TOLERANCE_OF_PRECISION.FP16
  const timing = `compile ${Math.round(result.coldMs)} ms cold, ${Math.round(result.warmMs)} ms warm (${result.cacheFiles} file(s) in CACHE_DIR)`
  const compiled: DoctorModel = {
    ...base,
    backend: 'openvino',
    device,
    precision,
    compile_cold_ms: result.coldMs,
    compile_warm_ms: result.warmMs,
    cache_files: result.cacheFiles,
    tolerance,
  }
  const deviceOutputs = mapValues(result.outputs, fromWire)
  if (!onnxPath) {
    const bad = nonFinite(deviceOutputs)
    return {
      ...compiled,
      status: bad.length > 0 ? 'fail' : 'warn',
      detail: `${timing}; ${bad.length > 0 ? `NaN/Inf in ${bad.join(', ')}` : 'outputs finite'}, but no ONNX model beside the IR to compare with`,
    }
  }
  let reference: ReferenceRun
  try {
    reference = await runReference(spec, onnxPath, ctx, mapValues(result.inputs, fromWire))
  } catch (err) {
    return {
      ...compiled,
      status: 'fail',
      detail: `${timing}; the ONNX Runtime reference failed: ${messageOf(err)}`,
    }
  }
  const outputs: DoctorOutputComparison[] = []
  const wrong: string[] = []
  for (const [name, expected] of Object.entries(reference.outputs)) {
    const actual = deviceOutputs[name]
    if (!actual) {
      wrong.push(`${name} missing`)
      continue
    }
    const cmp = compareOutputs(tensorNumbers(actual), tensorNumbers(expected), tolerance)
    outputs.push({
      name,
      elements: expected.data.length,
      mismatches: cmp.mismatches,
      max_abs_error: Number.isFinite(cmp.maxAbsError) ? cmp.maxAbsError : null,
    })
    if (!cmp.ok) {
      wrong.push(
        `${name}: ${cmp.mismatches} of ${expected.data.length} outside atol ${tolerance.atol} rtol ${tolerance.rtol} (max error ${cmp.maxAbsError.toPrecision(3)}, first at ${cmp.firstMismatch})`,
      )
    }
  }
  if (wrong.length > 0) {
    return {
      ...compiled,
      outputs,
      status: 'fail',
      detail: `wrong answer on ${device} (${precision}): ${wrong.join('; ')}; ${timing}`,
    }
  }
  const maxError = Math.max(0, ...outputs.map((o) => o.max_abs_error ?? 0))
  return {
    ...compiled,
    outputs,
    // Without a cached blob every start recompiles (seconds to minutes on the NPU).
    status: result.cacheFiles === 0 ? 'warn' : 'ok',
    detail: `golden input matches ONNX Runtime within ${precision} tolerance (max error ${maxError.toPrecision(3)}); ${timing}${result.cacheFiles === 0 ? ': nothing cached, every start recompiles' : ''}`,
  }
}
