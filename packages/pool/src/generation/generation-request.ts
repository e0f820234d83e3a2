import {
  type ChatCompletionMessage,
  type ChatCompletionRequest,
  ChatCompletionRequestSchema,
  type CompletionRequest,
  CompletionRequestSchema,
  issueLines,
} from '@npu-fleet/protocol'
import type { GenerationKind } from '../dispatch/routed-needs.js'
import type { CallOptions } from '../pool-types.js'

/** The generation parameters of the worker's OpenAI routes (their names and meanings). */
export type GenerationParameters = Pick<
  ChatCompletionRequest,
  'max_tokens' | 'temperature' | 'top_p' | 'top_k' | 'repetition_penalty' | 'seed' | 'stop' | 'user'
>

/** Options of `chat`, `complete` and the streams: the call's signal and deadline, and the generation parameters. */
export interface GenerationOptions extends CallOptions, GenerationParameters {
  /** Streams only: `include_usage` adds a last chunk with no choices carrying `usage` (OpenAI's option). */
  stream_options?: { include_usage?: boolean }
}

/** What is generated from: a conversation (chat) or a prompt (completion). */
export type GenerationInput =
  | { kind: 'chat'; messages: readonly ChatCompletionMessage[] }
  | { kind: 'completion'; prompt: string }

/** A request body ready to send, or why it cannot be (a message naming the field). */
export type GenerationBody =
  | { ok: true; request: object; body: string; kind: GenerationKind; includeUsage: boolean }
  | { ok: false; message: string }

const PARAMETERS = [
  'max_tokens',
  'temperature',
  'top_p',
  'top_k',
  'repetition_penalty',
  'seed',
  'stop',
  'user',
] as const satisfies ReadonlyArray<keyof GenerationParameters>

/**
 * The body of `POST /v1/chat/completions` or `/v1/completions`, checked against the same strict schema the
 * worker uses, so a bad parameter fails here naming the field and nothing is sent. A stream always asks the
 * worker for its usage chunk (the pool's tokens/s come from it); `includeUsage` says whether the caller sees it.
 */
export function generationBody(
  model: string,
  input: GenerationInput,
  options: GenerationOptions,
  stream: boolean,
): GenerationBody {
  const request: Record<string, unknown> = { model }
  if (input.kind === 'chat') request.messages = input.messages
  else request.prompt = input.prompt
  for (const name of PARAMETERS) if (options[name] !== undefined) request[name] = options[name]
  if (stream) request.stream = true
  if (stream && options.stream_options !== undefined) request.stream_options = options.stream_options
  const schema = input.kind === 'chat' ? ChatCompletionRequestSchema : CompletionRequestSchema
  const parsed = schema.safeParse(request)
  if (!parsed.success) return { ok: false, message: issueLines(parsed.error.issues).join('; ') }
  const includeUsage = options.stream_options?.include_usage === true
  const sent = parsed.data as ChatCompletionRequest | CompletionRequest
  if (stream) sent.stream_options = { include_usage: true }
  return { ok: true, request: sent, body: JSON.stringify(sent), kind: input.kind, includeUsage }
}
