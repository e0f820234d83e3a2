import {
  type ChatCompletion,
  ChatCompletionSchema,
  type Completion,
  CompletionSchema,
} from '@npu-fleet/protocol'
import type { Validate } from '../dispatch/attempt-dispatcher.js'
import type { TransportResponse } from '../transport/worker-transport.js'

/** A generation's answer with the backend and device the worker says generated it. */
export interface Generated<T> {
  value: T
  backend: string | null
  device: string | null
}

// The worker names where a generation ran in these headers (its routes/openai-generation.ts).
const BACKEND_HEADER = 'x-npu-backend'
const DEVICE_HEADER = 'x-npu-device'

function header(response: TransportResponse | undefined, name: string): string | null {
  const value = response?.headers[name]
  return typeof value === 'string' ? value : null
}

/** `POST /v1/chat/completions` 2xx body (non-streaming). */
export const validateChatCompletion: Validate<Generated<ChatCompletion>> = (body, response) => {
  const parsed = ChatCompletionSchema.safeParse(body)
  if (!parsed.success) return null
  return {
    value: parsed.data,
    backend: header(response, BACKEND_HEADER),
    device: header(response, DEVICE_HEADER),
  }
}

/** `POST /v1/completions` 2xx body (non-streaming). */
export const validateCompletion: Validate<Generated<Completion>> = (body, response) => {
  const parsed = CompletionSchema.safeParse(body)
  if (!parsed.success) return null
  return {
    value: parsed.data,
    backend: header(response, BACKEND_HEADER),
    device: header(response, DEVICE_HEADER),
  }
}
