import { type EmbeddingsInput, EmbeddingsInputSchema } from '@npu-fleet/protocol'
import type { ZodType } from 'zod'

/** Limits of one embeddings request; past them the answer is 400 NPU_ERR_BAD_TASK_INPUT naming `input`. */
export const EMBEDDINGS_LIMITS = {
  /** Texts per request (OpenAI's limit too). */
  maxTexts: 2048,
  /**
   * Characters (UTF-16 units) of one text. Tokenising runs on the main thread, one text at a time with yields in
   * between. A long text with whitespace costs about a millisecond (only the prefix that fills the sequence
   * length is tokenised); one without whitespace is tokenised whole, at about 1.4 µs per character in the worst
   * case measured, so this caps one uninterrupted stretch at roughly 150 ms. It is far beyond any model's
   * sequence length (128-8192 tokens), so no text that fits a model is refused.
   */
  maxTextChars: 100_000,
  /** Characters (UTF-16 units) over all texts. */
  maxTotalChars: 1_000_000,
  /** Length of `model`, so an error message never echoes a huge string. */
  maxModelNameChars: 256,
} as const

/**
 * The `embeddings` task input: the protocol's `EmbeddingsInputSchema` plus this worker's rules: no empty text
 * and none over `maxTextChars` (`input[i]`), at most `maxTexts` texts and `maxTotalChars` characters in all
 * (`input`), a model name of at most `maxModelNameChars` (`model`).
 */
export const EmbeddingsTaskInputSchema: ZodType<EmbeddingsInput> = EmbeddingsInputSchema.superRefine(
  (value, ctx) => {
    const texts = typeof value.input === 'string' ? [value.input] : value.input
    if (texts.length > EMBEDDINGS_LIMITS.maxTexts) {
      ctx.addIssue({
        code: 'custom',
        path: ['input'],
        message: `${texts.length} texts; at most ${EMBEDDINGS_LIMITS.maxTexts} per request`,
      })
      return
    }
    let chars = 0
    let named = 0
    texts.forEach((text, i) => {
      chars += text.length
      const problem =
        text.length === 0
          ? 'must not be empty'
          : text.length > EMBEDDINGS_LIMITS.maxTextChars
            ? `${text.length} characters; at most ${EMBEDDINGS_LIMITS.maxTextChars} per text`
            : null
      // The first few bad texts are named; thousands of identical issues would help no one.
      if (problem && ++named <= 3) {
        ctx.addIssue({
          code: 'custom',
          path: typeof value.input === 'string' ? ['input'] : ['input', i],
          message: problem,
        })
      }
    })
    if (chars > EMBEDDINGS_LIMITS.maxTotalChars) {
      ctx.addIssue({
        code: 'custom',
        path: ['input'],
        message: `${chars} characters in total; at most ${EMBEDDINGS_LIMITS.maxTotalChars} per request`,
      })
    }
    if (value.model !== undefined && value.model.length > EMBEDDINGS_LIMITS.maxModelNameChars) {
      ctx.addIssue({
        code: 'custom',
        path: ['model'],
        message: `${value.model.length} characters; at most ${EMBEDDINGS_LIMITS.maxModelNameChars}`,
      })
    }
  },
)
