import { type EmbeddingsInput, EmbeddingsInputSchema } from '@npu-fleet/protocol'
import type { ZodType } from 'zod'

/** Limits of one embeddings request; past them the answer is 400 NPU_ERR_BAD_TASK_INPUT naming `input`. */
export const EMBEDDINGS_LIMITS = {
  /** Texts per request (OpenAI's limit too). */
  maxTexts: 2048,
  /**
   * Characters (UTF-16 units) over all texts. Tokenising runs on the main thread at roughly 1 M characters per
   * second here; long texts are cut to the model's sequence length after only a prefix is tokenised, so this
   * bounds the worst case (text with no whitespace), not the usual one.
   */
  maxTotalChars: 1_000_000,
  /** Length of `model`, so an error message never echoes a huge string. */
  maxModelNameChars: 256,
} as const

/**
 * The `embeddings` task input: the protocol's `EmbeddingsInputSchema` plus this worker's rules: no empty
 * text (`input[i]`), at most `maxTexts` texts and `maxTotalChars` characters (`input`), a model name of at most
 * `maxModelNameChars` (`model`).
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
    let empties = 0
    texts.forEach((text, i) => {
      chars += text.length
      // The first few empty texts are named; thousands of identical issues would help no one.
      if (text.length === 0 && ++empties <= 3) {
        ctx.addIssue({
          code: 'custom',
          path: typeof value.input === 'string' ? ['input'] : ['input', i],
          message: 'must not be empty',
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
