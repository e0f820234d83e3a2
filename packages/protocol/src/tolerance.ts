// How close a device's answer must be to the FP32 reference (ONNX Runtime on the CPU) to count as correct.
// One home for the rule: the release self-test, the role's verify step, the worker's output self-test, the
// `npu-worker doctor` golden check and the backend contract suite all read it from here.

/** Arithmetic precision a device computes in. */
export type InferencePrecision = 'FP32' | 'FP16' | 'BF16'

/** `|actual - expected| <= atol + rtol * |expected|` for every element. */
export interface Tolerance {
  atol: number
  rtol: number
}

/**
 * Tolerance per precision, `|actual - expected| <= atol + rtol * |expected|` for every element.
 *
 * - FP32 allows for a different summation order or thread count only.
 * - FP16 (the NPU, and the GPU by default) rounds inputs, weights and activations to 11 significant bits.
 *   Measured on the shipped models with the FP16 emulation of the worker's fake device (weights, inputs and
 *   every activation rounded to half, FP32 accumulation, Conv+BatchNorm folded as OpenVINO compiles it;
 *   `pnpm --filter @npu-fleet/worker measure:fp16`, on the doctor's golden input, two noise inputs and, for
 *   the OCR models, a rendered text line): the largest atol needed at rtol 1e-2 was 1.4e-2 (ppocr-rec on
 *   text), then 5.2e-3 (ppocr-rec on noise), 2.7e-3 (tiny-bert-embed), 7e-4 (ppocr-det on noise) and 3e-5
 *   (mlp); atol 3e-2 is that largest need with a margin of 2 (on a later build machine, AVX2 without AVX-512,
 *   ppocr-rec on text needed 1.56e-2: the margin moves with the CPU's kernels; the worker's test keeps 1.5). Not covered, on purpose: ppocr-det on a text
 *   image, where 0.24% of the map's pixels (text edges) move by up to 0.37 (relative L2 error 2.2e-2); no
 *   per-element tolerance separates that from a wrong map, so golden checks feed the detector a synthetic
 *   input. The emulation rounds more often than a device that fuses operators, so real devices should land
 *   inside these numbers; none of them was measured on NPU hardware.
 * - BF16 (a CPU with AMX) keeps 8 significant bits: measured on mlp and tiny-bert-embed (the models whose
 *   opset allows Cast to bfloat16): at most 2.4e-2 of atol at rtol 5e-2.
 *
 * A wrong answer (shuffled outputs, zeros, every element moved by 5%, by 10% under BF16) is off by the output's own magnitude and
 * fails at every one of these (test/backends/device-tolerance.test.ts in the worker shows it on each model).
 */
export const TOLERANCE_OF_PRECISION: Readonly<Record<InferencePrecision, Tolerance>> = {
  FP32: { atol: 1e-4, rtol: 1e-3 },
  FP16: { atol: 3e-2, rtol: 1e-2 },
  BF16: { atol: 5e-2, rtol: 5e-2 },
}

/** Precision of an `INFERENCE_PRECISION_HINT` value as OpenVINO reports it (`f32`, `f16`, `bf16`), or null. */
export function precisionOfHint(hint: string | null | undefined): InferencePrecision | null {
  switch (hint?.trim().toLowerCase()) {
    case 'f32':
    case 'fp32':
      return 'FP32'
    case 'f16':
    case 'fp16':
      return 'FP16'
    case 'bf16':
      return 'BF16'
    default:
      return null
  }
}

/**
 * The precision a model computes in on `device`: what the runtime reports (`INFERENCE_PRECISION_HINT`) when
 * it does, else the device's default: FP16 on the NPU and the GPU, FP32 on the CPU. `NPU.0` counts as `NPU`.
 */
export function precisionOfDevice(device: string, reportedHint?: string | null): InferencePrecision {
  const reported = precisionOfHint(reportedHint)
  if (reported) return reported
  const family = device.split('.')[0]?.toUpperCase()
  return family === 'NPU' || family === 'GPU' ? 'FP16' : 'FP32'
}

/** The tolerance for a model on `device` (see {@link precisionOfDevice}). */
export function toleranceFor(device: string, reportedHint?: string | null): Tolerance {
  return TOLERANCE_OF_PRECISION[precisionOfDevice(device, reportedHint)]
}

/** The outcome of comparing a device's answer with the reference. */
export interface OutputComparison {
  ok: boolean
  /** Elements outside the tolerance (a length mismatch counts every missing or extra element). */
  mismatches: number
  /** Largest `|actual - expected|` seen (Infinity for NaN or a missing element). */
  maxAbsError: number
  /** Index of the first element outside the tolerance, or -1. */
  firstMismatch: number
}

/** Compares element by element; NaN or infinity where the reference is finite is a mismatch. */
export function compareOutputs(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tolerance: Tolerance,
): OutputComparison {
  let mismatches = Math.abs(actual.length - expected.length)
  let maxAbsError = mismatches > 0 ? Number.POSITIVE_INFINITY : 0
  let firstMismatch = mismatches > 0 ? Math.min(actual.length, expected.length) : -1
  const n = Math.min(actual.length, expected.length)
  for (let i = 0; i < n; i++) {
    const a = Number(actual[i])
    const e = Number(expected[i])
    const error = Math.abs(a - e)
    const bad = !(error <= tolerance.atol + tolerance.rtol * Math.abs(e))
    if (Number.isNaN(error)) maxAbsError = Number.POSITIVE_INFINITY
    else if (error > maxAbsError) maxAbsError = error
    if (bad) {
      mismatches++
      if (firstMismatch === -1 || i < firstMismatch) firstMismatch = i
    }
  }
  return { ok: mismatches === 0, mismatches, maxAbsError, firstMismatch }
}
