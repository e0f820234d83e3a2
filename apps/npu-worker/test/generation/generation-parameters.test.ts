import { describe, expect, it } from 'vitest'
import { GenerationSectionSchema } from '../../src/generation/generation-manifest.js'
import { resolveParameters } from '../../src/generation/generation-parameters.js'
import { GenerationError, type GenerationParameters } from '../../src/generation/text-generator.js'

function fieldOf(parameters: GenerationParameters): string | null {
  try {
    resolveParameters(parameters)
    return null
  } catch (error) {
    expect(error).toBeInstanceOf(GenerationError)
    expect((error as GenerationError).code).toBe('invalid_parameter')
    return (error as GenerationError).field
  }
}

describe('resolveParameters', () => {
  it('defaults to greedy decoding with no filters, penalty or stops', () => {
    expect(resolveParameters({})).toEqual({
      maxTokens: null,
      temperature: 0,
      topP: 1,
      topK: 0,
      seed: null,
      repetitionPenalty: 1,
      stop: [],
    })
  })

  it('names the field of every out-of-range parameter', () => {
    expect(fieldOf({ max_tokens: 0 })).toBe('max_tokens')
    expect(fieldOf({ max_tokens: 1.5 })).toBe('max_tokens')
    expect(fieldOf({ temperature: 2.5 })).toBe('temperature')
    expect(fieldOf({ temperature: Number.NaN })).toBe('temperature')
    expect(fieldOf({ top_p: 0 })).toBe('top_p')
    expect(fieldOf({ top_k: -1 })).toBe('top_k')
    expect(fieldOf({ seed: 2 ** 60 })).toBe('seed')
    expect(fieldOf({ repetition_penalty: 0 })).toBe('repetition_penalty')
    expect(fieldOf({ stop: ['a', 'b', 'c', 'd', 'e'] })).toBe('stop')
    expect(fieldOf({ stop: ['ok', ''] })).toBe('stop[1]')
    expect(fieldOf({ temperature: '1' as unknown as number })).toBe('temperature')
  })
})

describe('the generation: section of model.yaml', () => {
  it('fills defaults and refuses unknown keys and paths', () => {
    expect(GenerationSectionSchema.parse({})).toEqual({
      max_sequences: 4,
      max_new_tokens: 256,
      prefill_chunk_tokens: 256,
      tokenizer: 'tokenizer.json',
      tokenizer_config: 'tokenizer_config.json',
      generation_config: 'generation_config.json',
      config: 'config.json',
      max_prompt_len: 1024,
      min_response_len: 128,
      generate_hint: 'FAST_COMPILE',
    })
    expect(GenerationSectionSchema.safeParse({ max_sequence: 4 }).success).toBe(false)
    expect(GenerationSectionSchema.safeParse({ generate_hint: 'FASTEST' }).success).toBe(false)
    expect(GenerationSectionSchema.safeParse({ tokenizer: '../tokenizer.json' }).success).toBe(false)
  })
})
