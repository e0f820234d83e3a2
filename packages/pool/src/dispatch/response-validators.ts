import {
  type InferResponse,
  InferResponseSchema,
  type TaskResponse,
  TaskResponseSchema,
} from '@npu-fleet/protocol'
import { attachBinaryOutputs } from '../transport/binary-tensors.js'
import type { Validate } from './attempt-dispatcher.js'

/** A task route's 2xx body: the protocol's task envelope. */
export const validateTask: Validate<TaskResponse> = (body) => {
  const parsed = TaskResponseSchema.safeParse(body)
  return parsed.success ? (parsed.data as TaskResponse) : null
}

/** A KServe v2 infer 2xx body. */
export const validateInfer: Validate<InferResponse> = (body) =>
  InferResponseSchema.safeParse(body).success ? (body as InferResponse) : null

/** The same, then the binary part put back into the outputs as typed arrays (null if it does not add up). */
export const validateBinaryInfer: Validate<InferResponse> = (body, response) => {
  const parsed = validateInfer(body, response)
  if (parsed === null) return null
  return response?.binary ? attachBinaryOutputs(parsed, response.binary) : parsed
}
