import type { GenerationInput, GenerationParameters, TextGenerator } from '../generation/text-generator.js'
import type { SelfTestRecord } from './self-test.js'

// The output-correctness self-test of a language model: a short greedy generation of a fixed prompt on its
// device, compared with the ONNX Runtime engine's answer on the CPU. Greedy decoding is deterministic, so on the
// same arithmetic the texts are equal. A device that computes in FP16 (the NPU) may flip a greedy choice where two
// tokens are nearly tied, which then changes everything after it; garbled output, the failure this test exists
// for, is wrong from the start. So on FP16/BF16 devices the answer passes when it agrees with the reference on at
// least the first half of the reference's text; on FP32 it must be equal.

/** The golden prompt, generated as a completion (every model can, with or without a chat template). */
export const GOLDEN_PROMPT: GenerationInput = { kind: 'completion', prompt: 'The capital of France is' }
/** Greedy, a few tokens: enough to see garbled output, short enough to rerun every interval. */
export const GOLDEN_PARAMETERS: GenerationParameters = { max_tokens: 8, temperature: 0 }

/** A language model's golden prompt and the text it must produce. */
export interface GeneratorGolden {
  /** The reference text; null when there is nothing to compare with (`note` says why). */
  expected: string | null
  reference: 'onnxruntime_cpu' | null
  /** Where the reference came from, or why there is none. */
  note: string
  /** The reference is the served engine's own answer at load: that run was the load-time test. */
  fromServedModel: boolean
}

/** Runs `promise`, rejecting after `ms` (a backstop: every generator limits its own steps). */
function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the golden generation did not finish within ${ms} ms`)), ms)
    timer.unref()
  })
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer))
}

/** The golden generation's text on `generator`. */
export async function goldenText(generator: TextGenerator, limitMs: number): Promise<string> {
  const result = await within(generator.generate(GOLDEN_PROMPT, GOLDEN_PARAMETERS), limitMs)
  return result.text
}

/** Length of the common prefix of two strings. */
function commonPrefix(a: string, b: string): number {
  let n = 0
  while (n < a.length && n < b.length && a[n] === b[n]) n++
  return n
}

/** The load-time record of an engine whose reference is its own answer at load (not run a second time). */
export function generatorReferenceRecord(generator: TextGenerator, golden: GeneratorGolden): SelfTestRecord {
  return {
    result: 'pass',
    at: Date.now(),
    reference: golden.reference,
    precision: generator.precision,
    tolerance: null,
    maxAbsError: null,
    mismatches: 0,
    elements: golden.expected?.length ?? 0,
    durationMs: null,
    message: `${golden.note}; later self-tests compare with it`,
  }
}

/** Generates the golden prompt on `generator` and compares the text with the reference. */
export async function runGeneratorSelfTest(
  generator: TextGenerator,
  golden: GeneratorGolden,
  limitMs: number,
): Promise<SelfTestRecord> {
  const at = Date.now()
  const base = {
    at,
    precision: generator.precision,
    reference: golden.reference,
    tolerance: null,
    maxAbsError: null,
  }
  const started = performance.now()
  let text: string
  try {
    text = await goldenText(generator, limitMs)
  } catch (error) {
    return {
      ...base,
      result: 'error',
      mismatches: null,
      elements: null,
      durationMs: performance.now() - started,
      message: `the golden generation failed on ${generator.backend}/${generator.device}: ${(error as Error).message}`,
    }
  }
  const durationMs = performance.now() - started
  const expected = golden.expected
  if (expected === null) {
    return {
      ...base,
      result: 'no_reference',
      mismatches: null,
      elements: null,
      durationMs,
      message: `generated ${JSON.stringify(text)}; ${golden.note}`,
    }
  }
  const agreed = commonPrefix(text, expected)
  const reduced = generator.precision !== 'FP32'
  const pass =
    text === expected || (reduced && expected.length > 0 && agreed >= Math.ceil(expected.length / 2))
  const compared = `greedy answer ${JSON.stringify(text)} vs the ONNX Runtime reference ${JSON.stringify(expected)}`
  return {
    ...base,
    result: pass ? 'pass' : 'drift',
    mismatches: expected.length - agreed,
    elements: expected.length,
    durationMs,
    message: pass
      ? text === expected
        ? `greedy answer equals the reference (${expected.length} characters); ${golden.note}`
        : `${compared} agree on the first ${agreed} of ${expected.length} characters (at least half, as ${generator.precision} may flip a near-tie); ${golden.note}`
      : `${compared} on ${generator.backend}/${generator.device} ${agreed === 0 ? 'differ from the first character' : `agree on only ${agreed} of ${expected.length} characters`}${reduced ? ` (${generator.precision} must agree on at least half)` : ''}`,
  }
}
