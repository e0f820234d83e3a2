import { z } from 'zod'

// OpenAI-compatible text generation as the worker serves it (`POST /v1/chat/completions`, `POST /v1/completions`,
// `GET /v1/models`) and the pool streams it. Request schemas are strict: a parameter the worker does not
// implement is a 400 naming it, never silently ignored. Ranges (temperature in [0, 2], ...) are checked once, by
// the worker's generation parameters, whose errors name the field too. Responses and chunks follow OpenAI's
// shapes field for field, so the official SDKs parse them.

const positiveInt = z.number().int().positive()

/** A text part of a message's content (`[{type: "text", text}]`, as the SDKs send multi-part content). */
export const TextContentPartSchema = z.object({ type: z.literal('text'), text: z.string() }).strict()

/** One chat message. `developer` is OpenAI's newer name for `system`, and is rendered as one. */
export const ChatCompletionMessageSchema = z
  .object({
    role: z.enum(['system', 'developer', 'user', 'assistant']),
    content: z.union([z.string(), z.array(TextContentPartSchema).min(1)]),
  })
  .strict()
/** One chat message. */
export type ChatCompletionMessage = z.infer<typeof ChatCompletionMessageSchema>

/** Up to 4 strings that end generation (cut before the match, never included). */
export const StopSchema = z.union([z.string(), z.array(z.string()).max(4)])

/** `stream_options`: `include_usage` adds a last chunk with `usage` (and `usage: null` on every other chunk). */
export const StreamOptionsSchema = z.object({ include_usage: z.boolean().optional() }).strict()

/** Sampling and length parameters both routes take (OpenAI's names; `top_k` and `repetition_penalty` as vLLM names them). */
const generationFields = {
  model: z.string().min(1).max(256),
  max_tokens: positiveInt.nullable().optional(),
  temperature: z.number().nullable().optional(),
  top_p: z.number().nullable().optional(),
  top_k: z.number().int().nonnegative().nullable().optional(),
  repetition_penalty: z.number().nullable().optional(),
  seed: z.number().int().nullable().optional(),
  stop: StopSchema.nullable().optional(),
  stream: z.boolean().nullable().optional(),
  stream_options: StreamOptionsSchema.nullable().optional(),
  /** Only 1: one choice per request. */
  n: z.literal(1).nullable().optional(),
  /** Only 0 (no penalty). */
  presence_penalty: z.literal(0).nullable().optional(),
  /** Only 0 (no penalty). */
  frequency_penalty: z.literal(0).nullable().optional(),
  /** An end-user id (OpenAI's `user`); recorded in the log, never sent to the model. */
  user: z.string().max(256).optional(),
}

/** `POST /v1/chat/completions` body. */
export const ChatCompletionRequestSchema = z
  .object({
    ...generationFields,
    messages: z.array(ChatCompletionMessageSchema).min(1).max(1024),
    /** OpenAI's newer name for `max_tokens`; give one of the two. */
    max_completion_tokens: positiveInt.nullable().optional(),
    /** Only false: no log probabilities. */
    logprobs: z.literal(false).nullable().optional(),
  })
  .strict()
/** `POST /v1/chat/completions` body. */
export type ChatCompletionRequest = z.infer<typeof ChatCompletionRequestSchema>

/** `POST /v1/completions` body; the prompt is one string (or a list holding one). */
export const CompletionRequestSchema = z
  .object({
    ...generationFields,
    prompt: z.union([z.string(), z.array(z.string()).length(1)]),
    /** Only false: the prompt is not repeated in the answer. */
    echo: z.literal(false).nullable().optional(),
    /** Only 1. */
    best_of: z.literal(1).nullable().optional(),
    /** Only null/0: no log probabilities. */
    logprobs: z.literal(0).nullable().optional(),
  })
  .strict()
/** `POST /v1/completions` body. */
export type CompletionRequest = z.infer<typeof CompletionRequestSchema>

/** Why a choice ended: an end token or a stop string (`stop`), or `max_tokens` / the context length (`length`). */
export const FinishReasonSchema = z.enum(['stop', 'length'])
/** Why a choice ended. */
export type OpenAiFinishReason = z.infer<typeof FinishReasonSchema>

/** Token counts of one request. */
export const CompletionUsageSchema = z.object({
  prompt_tokens: z.number().int().nonnegative(),
  completion_tokens: z.number().int().nonnegative(),
  total_tokens: z.number().int().nonnegative(),
})
/** Token counts of one request. */
export type CompletionUsage = z.infer<typeof CompletionUsageSchema>

const responseFields = {
  id: z.string(),
  /** Unix seconds. */
  created: z.number().int(),
  model: z.string(),
  /** The worker version, backend and device that answered (`npu-worker/1.0.0 onnxruntime/CPU`). */
  system_fingerprint: z.string().nullable().optional(),
}

/** `POST /v1/chat/completions` answer (non-streaming). */
export const ChatCompletionSchema = z.object({
  ...responseFields,
  object: z.literal('chat.completion'),
  choices: z.array(
    z.object({
      index: z.number().int().nonnegative(),
      message: z.object({ role: z.literal('assistant'), content: z.string() }),
      finish_reason: FinishReasonSchema,
      logprobs: z.null(),
    }),
  ),
  usage: CompletionUsageSchema,
})
/** Chat completion answer. */
export type ChatCompletion = z.infer<typeof ChatCompletionSchema>

/**
 * One server-sent event of a streamed chat completion (`data: {chunk}`, then `data: [DONE]`). The first chunk
 * carries `delta.role`, the last one `finish_reason`; with `include_usage`, every chunk has `usage: null` and a
 * final chunk with no choices carries the usage.
 */
export const ChatCompletionChunkSchema = z.object({
  ...responseFields,
  object: z.literal('chat.completion.chunk'),
  choices: z.array(
    z.object({
      index: z.number().int().nonnegative(),
      delta: z.object({ role: z.literal('assistant').optional(), content: z.string().optional() }),
      finish_reason: FinishReasonSchema.nullable(),
      logprobs: z.null(),
    }),
  ),
  usage: CompletionUsageSchema.nullable().optional(),
})
/** A streamed chat completion chunk. */
export type ChatCompletionChunk = z.infer<typeof ChatCompletionChunkSchema>

const completionChoice = z.object({
  index: z.number().int().nonnegative(),
  text: z.string(),
  finish_reason: FinishReasonSchema.nullable(),
  logprobs: z.null(),
})

/** `POST /v1/completions` answer (non-streaming). */
export const CompletionSchema = z.object({
  ...responseFields,
  object: z.literal('text_completion'),
  choices: z.array(completionChoice.extend({ finish_reason: FinishReasonSchema })),
  usage: CompletionUsageSchema,
})
/** Completion answer. */
export type Completion = z.infer<typeof CompletionSchema>

/** One server-sent event of a streamed completion; the same object as the answer, with text pieces. */
export const CompletionChunkSchema = z.object({
  ...responseFields,
  object: z.literal('text_completion'),
  choices: z.array(completionChoice),
  usage: CompletionUsageSchema.nullable().optional(),
})
/** A streamed completion chunk. */
export type CompletionChunk = z.infer<typeof CompletionChunkSchema>

/** `GET /v1/models`: every model the OpenAI routes serve (generation and embeddings). */
export const ModelListSchema = z.object({
  object: z.literal('list'),
  data: z.array(
    z.object({
      id: z.string(),
      object: z.literal('model'),
      /** Unix seconds: when the worker loaded it. */
      created: z.number().int(),
      owned_by: z.string(),
    }),
  ),
})
/** `GET /v1/models` answer. */
export type ModelList = z.infer<typeof ModelListSchema>

/**
 * Every error of the OpenAI routes, in the shape OpenAI's SDKs parse (they read `error.message`): `type` as
 * OpenAI names its kinds, `param` the request field at fault (or null), `code` the worker's stable `NPU_ERR_*`.
 */
export const OpenAiErrorBodySchema = z.object({
  error: z.object({
    message: z.string(),
    type: z.enum(['invalid_request_error', 'authentication_error', 'server_error']),
    param: z.string().nullable(),
    code: z.string().regex(/^NPU_ERR_[A-Z0-9_]+$/),
  }),
})
/** Error body of the OpenAI routes. */
export type OpenAiErrorBody = z.infer<typeof OpenAiErrorBodySchema>

/** The OpenAI error kind of an HTTP status: 401 authentication, other 4xx invalid request, 5xx server. */
export function openAiErrorType(status: number): OpenAiErrorBody['error']['type'] {
  if (status === 401) return 'authentication_error'
  return status >= 500 ? 'server_error' : 'invalid_request_error'
}

/** The terminating event of every OpenAI stream. */
export const SSE_DONE = '[DONE]'
