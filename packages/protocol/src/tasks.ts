import { z } from 'zod'
import { BackendNameSchema } from './health.js'

/** `POST /v1/tasks/{type}` success envelope; `result` is the task's own result schema. */
export const TaskResponseSchema = z.object({
  success: z.literal(true),
  task: z.string(),
  model: z.string(),
  backend: BackendNameSchema,
  device: z.string(),
  duration_ms: z.number().nonnegative(),
  result: z.unknown(),
})
/** Task success envelope. */
export type TaskResponse<R = unknown> = Omit<z.infer<typeof TaskResponseSchema>, 'result'> & { result: R }

/** A quadrilateral as four [x, y] corners, clockwise from top-left. */
export const QuadSchema = z.tuple([
  z.tuple([z.number(), z.number()]),
  z.tuple([z.number(), z.number()]),
  z.tuple([z.number(), z.number()]),
  z.tuple([z.number(), z.number()]),
])

/** `ocr` task input (JSON form; the raw `image/*` body form carries the same image). */
export const OcrInputSchema = z.object({
  /** PNG, JPEG or WebP, base64 (a `data:` URL prefix is accepted). */
  image: z.string().min(1),
  /** Run the text-angle classifier (rotated lines). */
  use_angle_classifier: z.boolean().optional(),
})
/** `ocr` task input. */
export type OcrInput = z.infer<typeof OcrInputSchema>

/** `ocr` task result. */
export const OcrResultSchema = z.object({
  lines: z.array(z.object({ text: z.string(), confidence: z.number(), box: QuadSchema })),
  width: z.number().int(),
  height: z.number().int(),
})
/** `ocr` task result. */
export type OcrResult = z.infer<typeof OcrResultSchema>

/** `embeddings` task input. */
export const EmbeddingsInputSchema = z.object({
  input: z.union([z.string(), z.array(z.string()).min(1)], {
    error: 'expected a string or a non-empty array of strings',
  }),
  model: z.string().optional(),
  /** Apply the model's query or document prefix. */
  input_type: z.enum(['query', 'document']).optional(),
})
/** `embeddings` task input. */
export type EmbeddingsInput = z.infer<typeof EmbeddingsInputSchema>

/** OpenAI-compatible embeddings response (also the `embeddings` task result). */
export const EmbeddingsResponseSchema = z.object({
  object: z.literal('list'),
  data: z.array(
    z.object({ object: z.literal('embedding'), index: z.number().int(), embedding: z.array(z.number()) }),
  ),
  model: z.string(),
  usage: z.object({ prompt_tokens: z.number().int(), total_tokens: z.number().int() }),
})
/** OpenAI-compatible embeddings response. */
export type EmbeddingsResponse = z.infer<typeof EmbeddingsResponseSchema>

/** Legacy `POST /inference` body of the system this replaces. */
export const LegacyInferenceRequestSchema = z.object({
  task_type: z.string().min(1),
  model_name: z.string().optional(),
  input_data: z.unknown(),
})
/** Legacy inference request. */
export type LegacyInferenceRequest = z.infer<typeof LegacyInferenceRequestSchema>

/** Legacy `POST /embedding/generate` reply. */
export const LegacyEmbeddingResponseSchema = z.object({
  embeddings: z.array(z.array(z.number())),
  model_used: z.string(),
  processing_time_ms: z.number(),
  texts_processed: z.number().int(),
  device: z.string(),
})
/** Legacy embedding reply. */
export type LegacyEmbeddingResponse = z.infer<typeof LegacyEmbeddingResponseSchema>
