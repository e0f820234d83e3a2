import {
  compareOutputs,
  type InferencePrecision,
  TOLERANCE_OF_PRECISION,
  type Tolerance,
} from '@npu-fleet/protocol'
import type { LoadedModel } from '../backends/backend.js'
import type { Tensor } from '../backends/tensor.js'
import { fromBfloat16Bits } from '../kserve/bfloat16.js'
import { fromHalfBits } from '../kserve/half-float.js'

// The output-correctness self-test: NPUs fail silently, with garbled numbers, so every model keeps a golden input
// and the reference output for it (golden-case.ts) and reruns it on its device before it turns ready and then
// every `self_test_interval_seconds`. Outside the device's tolerance (tolerance.ts in @npu-fleet/protocol) the
// model is `degraded` with reason `output drift`.

/** A model's golden input and the output it must produce. */
export interface GoldenCase {
  inputs: Record<string, Tensor>
  /** Reference outputs by name; null when there is nothing to compare with (`note` says why). */
  expected: Record<string, Tensor> | null
  /** Where `expected` came from. */
  reference: 'onnxruntime_cpu' | 'shipped' | null
  /** Where the reference came from, or why there is none, in words. */
  note: string
  /** The reference is the served model's own answer at load (ONNX Runtime serves it): nothing to rerun then. */
  fromServedModel: boolean
}

/** How one self-test went. */
export interface SelfTestRecord {
  result: 'pass' | 'drift' | 'error' | 'no_reference'
  /** When it ran (epoch ms). */
  at: number
  reference: GoldenCase['reference']
  precision: InferencePrecision
  tolerance: Tolerance | null
  /** Largest |device - reference|; Infinity for NaN or a missing element; null when not compared. */
  maxAbsError: number | null
  mismatches: number | null
  elements: number | null
  durationMs: number | null
  message: string
}

/** The numbers of a tensor as JavaScript numbers (FP16 half bits decoded, 64-bit integers converted). */
export function tensorNumbers(tensor: Tensor): ArrayLike<number> {
  if (tensor.datatype === 'BYTES') throw new Error('BYTES tensors have no numbers: compare them as strings')
  const { data, datatype } = tensor
  if (datatype === 'FP16') return Array.from(data as Uint16Array, fromHalfBits)
  if (datatype === 'BF16') return Array.from(data as Uint16Array, fromBfloat16Bits)
  if (datatype === 'INT64' || datatype === 'UINT64') return Array.from(data as BigInt64Array, Number)
  return data as ArrayLike<number>
}

/** BYTES outputs must match exactly: no tolerance makes a different string right. */
function compareStrings(got: Tensor, want: Tensor): { maxAbsError: number; mismatches: number } {
  let mismatches = 0
  for (let i = 0; i < want.data.length; i++) if (got.data[i] !== want.data[i]) mismatches++
  if (got.datatype !== want.datatype) mismatches = want.data.length
  return { maxAbsError: mismatches > 0 ? Number.POSITIVE_INFINITY : 0, mismatches }
}

/** Compares every reference output with the device's, element by element, within `tolerance`. */
export function compareWithReference(
  actual: Readonly<Record<string, Tensor>>,
  expected: Readonly<Record<string, Tensor>>,
  tolerance: Tolerance,
): { maxAbsError: number; mismatches: number; elements: number; worst: string | null } {
  let maxAbsError = 0
  let mismatches = 0
  let elements = 0
  let worst: string | null = null
  for (const [name, reference] of Object.entries(expected)) {
    elements += reference.data.length
    const got = actual[name]
    if (!got || got.shape.join() !== reference.shape.join()) {
      mismatches += reference.data.length
      maxAbsError = Number.POSITIVE_INFINITY
      worst = `output "${name}" ${got ? `has shape [${got.shape}], expected [${reference.shape}]` : 'is missing'}`
      continue
    }
    const comparison =
      reference.datatype === 'BYTES' || got.datatype === 'BYTES'
        ? compareStrings(got, reference)
        : compareOutputs(tensorNumbers(got), tensorNumbers(reference), tolerance)
    mismatches += comparison.mismatches
    if (comparison.maxAbsError >= maxAbsError) {
      maxAbsError = comparison.maxAbsError
      if (comparison.mismatches > 0) worst = `output "${name}"`
    }
  }
  return { maxAbsError, mismatches, elements, worst }
}

/** Runs `promise`, rejecting after `ms` (a backstop: every backend also limits its own native calls). */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms)
    timer.unref()
  })
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer))
}

/**
 * The load-time record of a model whose reference is its own answer at load: that answer is the run, so it is
 * not run again; later self-tests compare with it.
 */
export function referenceRecord(model: LoadedModel, golden: GoldenCase): SelfTestRecord {
  const elements = Object.values(golden.expected ?? {}).reduce((n, t) => n + t.data.length, 0)
  return {
    result: 'pass',
    at: Date.now(),
    reference: golden.reference,
    precision: model.precision,
    tolerance: TOLERANCE_OF_PRECISION[model.precision],
    maxAbsError: 0,
    mismatches: 0,
    elements,
    durationMs: null,
    message: `${golden.note}; later self-tests compare with it`,
  }
}

/** Runs the golden input on `model` and compares with the reference within the tolerance of its precision. */
export async function runSelfTest(
  model: LoadedModel,
  golden: GoldenCase | null,
  limitMs: number,
): Promise<SelfTestRecord> {
  const at = Date.now()
  const base = { at, precision: model.precision, reference: golden?.reference ?? null }
  if (!golden?.expected) {
    return {
      ...base,
      result: 'no_reference',
      tolerance: null,
      maxAbsError: null,
      mismatches: null,
      elements: null,
      durationMs: null,
      message: golden?.note ?? 'no reference',
    }
  }
  const tolerance = TOLERANCE_OF_PRECISION[model.precision]
  const started = performance.now()
  let outputs: Record<string, Tensor>
  try {
    outputs = await within(
      // Background: a self-test wakes no dormant instance and keeps none from retiring.
      model.infer(golden.inputs, Object.keys(golden.expected), { background: true }),
      limitMs,
      'the golden inference',
    )
  } catch (error) {
    return {
      ...base,
      result: 'error',
      tolerance,
      maxAbsError: null,
      mismatches: null,
      elements: null,
      durationMs: performance.now() - started,
      message: `the golden input failed on ${model.backend}/${model.device}: ${(error as Error).message}`,
    }
  }
  const durationMs = performance.now() - started
  const { maxAbsError, mismatches, elements, worst } = compareWithReference(
    outputs,
    golden.expected,
    tolerance,
  )
  const error = Number.isFinite(maxAbsError) ? maxAbsError.toPrecision(3) : 'infinite (NaN or missing)'
  if (mismatches === 0) {
    return {
      ...base,
      result: 'pass',
      tolerance,
      maxAbsError,
      mismatches,
      elements,
      durationMs,
      message: `${elements} outputs within ${model.precision} tolerance (max error ${error}); ${golden.note}`,
    }
  }
  return {
    ...base,
    result: 'drift',
    tolerance,
    maxAbsError,
    mismatches,
    elements,
    durationMs,
    message: `${mismatches} of ${elements} outputs outside ${model.precision} tolerance (atol ${tolerance.atol}, rtol ${tolerance.rtol}) on ${model.backend}/${model.device}, max error ${error}${worst ? `, worst in ${worst}` : ''}`,
  }
}
