import { GenerationError, type GenerationParameters } from './text-generator.js'

/** Most stop strings one call may set (OpenAI's limit). */
export const MAX_STOP_STRINGS = 4
/** Longest stop string, in characters. */
export const MAX_STOP_LENGTH = 256

/** Parameters with every default applied, as the engine's thread takes them. */
export interface ResolvedParameters {
  /** Tokens to generate at most, or null for the model's default (clipped to the context at prefill). */
  maxTokens: number | null
  /** 0 = greedy. */
  temperature: number
  topP: number
  /** 0 = no top-k filter. */
  topK: number
  /** Sampler seed; null = a fresh random seed. */
  seed: number | null
  repetitionPenalty: number
  stop: string[]
}

function fail(field: string, message: string): never {
  throw new GenerationError('invalid_parameter', `${field}: ${message}`, field)
}

function numberIn(
  parameters: GenerationParameters,
  field: keyof GenerationParameters,
  check: (value: number) => boolean,
  expected: string,
): number | undefined {
  const value = parameters[field]
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'number' || !Number.isFinite(value) || !check(value))
    fail(field, `expected ${expected}`)
  return value
}

/**
 * Checks every parameter and applies the defaults (greedy, no filters, no penalty). Throws a
 * {@link GenerationError} `invalid_parameter` whose `field` names the first bad parameter.
 */
export function resolveParameters(parameters: GenerationParameters): ResolvedParameters {
  const maxTokens = numberIn(
    parameters,
    'max_tokens',
    (v) => Number.isInteger(v) && v >= 1,
    'an integer >= 1',
  )
  const temperature = numberIn(parameters, 'temperature', (v) => v >= 0 && v <= 2, 'a number in [0, 2]')
  const topP = numberIn(parameters, 'top_p', (v) => v > 0 && v <= 1, 'a number in (0, 1]')
  const topK = numberIn(
    parameters,
    'top_k',
    (v) => Number.isInteger(v) && v >= 0,
    'an integer >= 0 (0 = off)',
  )
  const seed = numberIn(
    parameters,
    'seed',
    (v) => Number.isSafeInteger(v),
    'an integer (a safe JavaScript integer)',
  )
  const penalty = numberIn(parameters, 'repetition_penalty', (v) => v > 0 && v <= 2, 'a number in (0, 2]')
  const stop = parameters.stop ?? []
  if (!Array.isArray(stop)) fail('stop', 'expected an array of strings')
  if (stop.length > MAX_STOP_STRINGS) fail('stop', `at most ${MAX_STOP_STRINGS} stop strings`)
  for (const [i, s] of stop.entries()) {
    if (typeof s !== 'string' || s.length === 0) fail(`stop[${i}]`, 'expected a non-empty string')
    if (s.length > MAX_STOP_LENGTH) fail(`stop[${i}]`, `at most ${MAX_STOP_LENGTH} characters`)
  }
  return {
    maxTokens: maxTokens ?? null,
    temperature: temperature ?? 0,
    topP: topP ?? 1,
    topK: topK ?? 0,
    seed: seed ?? null,
    repetitionPenalty: penalty ?? 1,
    stop: [...stop],
  }
}
