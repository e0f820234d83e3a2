import {
  EmbeddingsResponseSchema,
  type InferResponse,
  InferResponseSchema,
  SemanticSearchResultSchema,
  type TaskResponse,
  TaskResponseSchema,
  TextGenerationResultSchema,
} from '@npu-fleet/protocol'
import { attachBinaryOutputs } from '../transport/binary-tensors.js'
import type { Validate } from './attempt-dispatcher.js'
import { isInferResponse } from './infer-response-shape.js'

/** A task route's 2xx body: the protocol's task envelope. */
export const validateTask: Validate<TaskResponse> = (body) => {
  const parsed = TaskResponseSchema.safeParse(body)
  return parsed.success ? (parsed.data as TaskResponse) : null
}

/** A KServe v2 infer 2xx body (the hand-written check first; the schema decides what it turns down). */
export const validateInfer: Validate<InferResponse> = (body) =>
  isInferResponse(body) || InferResponseSchema.safeParse(body).success ? (body as InferResponse) : null

/** The same, then the binary part put back into the outputs as typed arrays (null if it does not add up). */
export const validateBinaryInfer: Validate<InferResponse> = (body, response) => {
  const parsed = validateInfer(body, response)
  if (parsed === null) return null
  return response?.binary ? attachBinaryOutputs(parsed, response.binary) : parsed
}

// The seeds' task types whose results the protocol types: a 2xx whose result does not match is a bad answer.
type ResultSchema = { safeParse(value: unknown): { success: boolean } }
const TASK_RESULT_SCHEMAS: ReadonlyMap<string, ResultSchema> = new Map<string, ResultSchema>([
  ['text_analysis', TextGenerationResultSchema],
  ['knowledge_processing', TextGenerationResultSchema],
  ['chat_inference', TextGenerationResultSchema],
  ['embedding_generation', EmbeddingsResponseSchema],
  ['embeddings', EmbeddingsResponseSchema],
  ['semantic_search', SemanticSearchResultSchema],
])

/** The validator of task type `type`: the envelope, and for the seeds' typed tasks their result too. */
export function taskValidator(type: string): Validate<TaskResponse> {
  const schema = TASK_RESULT_SCHEMAS.get(type)
  if (schema === undefined) return validateTask
  return (body, response) => {
    const envelope = validateTask(body, response)
    return envelope !== null && schema.safeParse(envelope.result).success ? envelope : null
  }
}
