import { formatIssues } from '@npu-fleet/protocol'
import { describe, expect, it } from 'vitest'
import {
  EMBEDDINGS_LIMITS,
  EmbeddingsTaskInputSchema,
} from '../../../src/tasks/embeddings/embeddings-input.js'

/** The 400 message the task route would send for `body`, or null when it is valid. */
function problem(body: unknown): string | null {
  const parsed = EmbeddingsTaskInputSchema.safeParse(body)
  return parsed.success ? null : formatIssues(parsed.error)
}

describe('EmbeddingsTaskInputSchema', () => {
  it('accepts the OpenAI shapes', () => {
    expect(EmbeddingsTaskInputSchema.parse({ input: 'hello' })).toEqual({ input: 'hello' })
    expect(EmbeddingsTaskInputSchema.parse({ input: ['a', 'b'], model: 'm', input_type: 'query' })).toEqual({
      input: ['a', 'b'],
      model: 'm',
      input_type: 'query',
    })
    // Whitespace is a real (if short) text: it embeds as [CLS] [SEP].
    expect(problem({ input: ' ' })).toBeNull()
  })

  it('names the field of every problem', () => {
    expect(problem({})).toMatch(/^input: /)
    expect(problem({ input: 5 })).toMatch(/^input: /)
    expect(problem({ input: [] })).toMatch(/^input: Too small/)
    expect(problem({ input: '' })).toBe('input: must not be empty')
    expect(problem({ input: ['a', '', 'b', ''] })).toBe(
      'input[1]: must not be empty; input[3]: must not be empty',
    )
    // The protocol's union names the field, not the element.
    expect(problem({ input: ['a', 7] })).toMatch(/^input: /)
    expect(problem({ input: 'a', input_type: 'passage' })).toMatch(/^input_type: /)
    expect(problem({ input: 'a', model: 3 })).toMatch(/^model: /)
  })

  it('names only the first three bad texts', () => {
    expect(problem({ input: Array.from({ length: 50 }, () => '') })).toBe(
      'input[0]: must not be empty; input[1]: must not be empty; input[2]: must not be empty',
    )
  })

  it('enforces the request limits', () => {
    const many = Array.from({ length: EMBEDDINGS_LIMITS.maxTexts + 1 }, () => 'a')
    expect(problem({ input: many })).toBe(
      `input: ${many.length} texts; at most ${EMBEDDINGS_LIMITS.maxTexts} per request`,
    )
    expect(problem({ input: many.slice(1) })).toBeNull()
    const longest = 'x'.repeat(EMBEDDINGS_LIMITS.maxTextChars)
    expect(problem({ input: longest })).toBeNull()
    expect(problem({ input: `${longest}y` })).toBe(
      `input: ${EMBEDDINGS_LIMITS.maxTextChars + 1} characters; at most ${EMBEDDINGS_LIMITS.maxTextChars} per text`,
    )
    expect(problem({ input: ['ok', `${longest}y`] })).toBe(
      `input[1]: ${EMBEDDINGS_LIMITS.maxTextChars + 1} characters; at most ${EMBEDDINGS_LIMITS.maxTextChars} per text`,
    )
    const all = Array.from(
      { length: EMBEDDINGS_LIMITS.maxTotalChars / EMBEDDINGS_LIMITS.maxTextChars },
      () => longest,
    )
    expect(problem({ input: all })).toBeNull()
    expect(problem({ input: [...all, 'y'] })).toBe(
      `input: ${EMBEDDINGS_LIMITS.maxTotalChars + 1} characters in total; at most ${EMBEDDINGS_LIMITS.maxTotalChars} per request`,
    )
    expect(problem({ input: 'a', model: 'm'.repeat(257) })).toBe('model: 257 characters; at most 256')
  })
})
