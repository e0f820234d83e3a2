import {
  type ChatCompletionRequest,
  ChatCompletionRequestSchema,
  type CompletionRequest,
  CompletionRequestSchema,
  issuePath,
} from '@npu-fleet/protocol'
import type { z } from 'zod'
import { ErrInvalidParameter, ErrMalformedBody, ErrUnsupportedParameter } from '../errors.js'
import { templateMessage } from '../generation/chat-messages.js'
import { resolveParameters } from '../generation/generation-parameters.js'
import {
  GenerationError,
  type GenerationInput,
  type GenerationParameters,
} from '../generation/text-generator.js'

/** An OpenAI chat or completion request, as the generation scheduler takes it. */
export interface GenerationRequest {
  /** The model the client named. */
  model: string
  input: GenerationInput
  parameters: GenerationParameters
  stream: boolean
  /** `stream_options.include_usage`: a last chunk carries the usage. */
  includeUsage: boolean
  /** OpenAI's `user` (an end-user id), for the log. */
  user: string | null
}

/** A parameter OpenAI defines that this worker does not implement, and the value that asks for nothing. */
interface Unsupported {
  /** True when the value asks for nothing this worker would have to ignore (null, the default). */
  neutral: (value: unknown) => boolean
  why: string
}

const absent = (value: unknown) => value === undefined || value === null
const equals = (neutral: unknown) => (value: unknown) => absent(value) || value === neutral

/** Parameters both routes refuse when they ask for something: never silently ignored. */
const UNSUPPORTED_COMMON: Record<string, Unsupported> = {
  n: { neutral: equals(1), why: 'only one choice per request (n: 1)' },
  presence_penalty: { neutral: equals(0), why: 'use repetition_penalty' },
  frequency_penalty: { neutral: equals(0), why: 'use repetition_penalty' },
  logit_bias: {
    neutral: (v) => absent(v) || (typeof v === 'object' && Object.keys(v as object).length === 0),
    why: 'logit biases are not implemented',
  },
  logprobs: {
    neutral: (v) => absent(v) || v === false || v === 0,
    why: 'log probabilities are not returned',
  },
  top_logprobs: { neutral: absent, why: 'log probabilities are not returned' },
  stream_options: {
    neutral: (v) =>
      absent(v) || (typeof v === 'object' && Object.keys(v as object).every((k) => k === 'include_usage')),
    why: 'only stream_options.include_usage is implemented',
  },
}

/** Chat-only parameters refused (tools, structured output, audio...). */
const UNSUPPORTED_CHAT: Record<string, Unsupported> = {
  ...UNSUPPORTED_COMMON,
  tools: { neutral: absent, why: 'tool calling is not implemented' },
  tool_choice: { neutral: absent, why: 'tool calling is not implemented' },
  parallel_tool_calls: { neutral: absent, why: 'tool calling is not implemented' },
  functions: { neutral: absent, why: 'function calling is not implemented' },
  function_call: { neutral: absent, why: 'function calling is not implemented' },
  response_format: {
    neutral: (v) => absent(v) || (v as { type?: unknown }).type === 'text',
    why: 'structured output (json_object, json_schema) is not implemented',
  },
  audio: { neutral: absent, why: 'audio output is not implemented' },
  modalities: {
    neutral: (v) => absent(v) || (Array.isArray(v) && v.every((m) => m === 'text')),
    why: 'only text is generated',
  },
  prediction: { neutral: absent, why: 'predicted outputs are not implemented' },
  reasoning_effort: { neutral: absent, why: 'not a reasoning model' },
  web_search_options: { neutral: absent, why: 'web search is not implemented' },
  service_tier: { neutral: (v) => absent(v) || v === 'auto' || v === 'default', why: 'one tier only' },
  store: { neutral: (v) => absent(v) || v === false, why: 'completions are not stored' },
  metadata: { neutral: absent, why: 'completions are not stored' },
}

/** Completion-only parameters refused. */
const UNSUPPORTED_COMPLETION: Record<string, Unsupported> = {
  ...UNSUPPORTED_COMMON,
  echo: { neutral: equals(false), why: 'the prompt is never repeated in the answer' },
  best_of: { neutral: equals(1), why: 'only one candidate per request (best_of: 1)' },
  suffix: { neutral: (v) => absent(v) || v === '', why: 'insertion (suffix) is not implemented' },
}

function refuseUnsupported(body: Record<string, unknown>, unsupported: Record<string, Unsupported>): void {
  for (const [name, rule] of Object.entries(unsupported)) {
    if (rule.neutral(body[name])) continue
    throw new ErrUnsupportedParameter(
      name,
      `${name}: ${JSON.stringify(body[name])?.slice(0, 80)} is not supported by this worker (${rule.why})`,
    )
  }
}

/** `stream_options` asks for something only a stream has (OpenAI refuses it without `stream: true` too). */
function refuseStreamOptionsWithoutStream(request: {
  stream?: boolean | null
  stream_options?: unknown
}): void {
  if (request.stream !== true && request.stream_options !== undefined && request.stream_options !== null) {
    throw new ErrInvalidParameter('stream_options', 'stream_options: only allowed with stream: true')
  }
}

/** Parses `body` with `schema`; the first problem becomes a 400 naming its parameter. */
function parse<T>(schema: z.ZodType<T>, body: Record<string, unknown>): T {
  const parsed = schema.safeParse(body)
  if (parsed.success) return parsed.data
  const issue = parsed.error.issues[0] as z.core.$ZodIssue
  const path = issuePath(issue.path)
  if (issue.code === 'unrecognized_keys') {
    const key = `${path ? `${path}.` : ''}${issue.keys[0]}`
    throw new ErrUnsupportedParameter(key, `${key}: unknown parameter; this worker does not implement it`)
  }
  const message = parsed.error.issues
    .map((i) => `${issuePath(i.path) || 'body'}: ${i.message}`)
    .slice(0, 3)
    .join('; ')
  throw new ErrInvalidParameter(path || 'body', message)
}

function asObject(body: unknown): Record<string, unknown> {
  if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new ErrMalformedBody('expected a JSON object like {"model": "name", ...}')
  }
  return body as Record<string, unknown>
}

/** The sampling parameters both routes share, checked now so a bad one is refused before any queueing. */
function parameters(
  body: ChatCompletionRequest | CompletionRequest,
  maxTokens: number | null | undefined,
  maxTokensField: string,
): GenerationParameters {
  const stop =
    body.stop === undefined || body.stop === null
      ? []
      : typeof body.stop === 'string'
        ? [body.stop]
        : body.stop
  const given: GenerationParameters = {
    ...(maxTokens !== undefined && maxTokens !== null ? { max_tokens: maxTokens } : {}),
    ...(body.temperature !== undefined && body.temperature !== null ? { temperature: body.temperature } : {}),
    ...(body.top_p !== undefined && body.top_p !== null ? { top_p: body.top_p } : {}),
    ...(body.top_k !== undefined && body.top_k !== null ? { top_k: body.top_k } : {}),
    ...(body.seed !== undefined && body.seed !== null ? { seed: body.seed } : {}),
    ...(body.repetition_penalty !== undefined && body.repetition_penalty !== null
      ? { repetition_penalty: body.repetition_penalty }
      : {}),
    ...(stop.length > 0 ? { stop } : {}),
  }
  try {
    resolveParameters(given)
  } catch (error) {
    if (error instanceof GenerationError && error.field) {
      const field = error.field === 'max_tokens' ? maxTokensField : error.field
      throw new ErrInvalidParameter(field, error.message.replace(/^max_tokens:/, `${field}:`))
    }
    throw error
  }
  return given
}

/** Parses a `POST /v1/chat/completions` body; throws 400s naming the parameter (unsupported ones included). */
export function parseChatCompletionRequest(raw: unknown): GenerationRequest {
  const body = asObject(raw)
  refuseUnsupported(body, UNSUPPORTED_CHAT)
  const request = parse(ChatCompletionRequestSchema, body)
  refuseStreamOptionsWithoutStream(request)
  if (
    request.max_tokens !== undefined &&
    request.max_tokens !== null &&
    request.max_completion_tokens !== undefined &&
    request.max_completion_tokens !== null
  ) {
    throw new ErrInvalidParameter(
      'max_completion_tokens',
      'max_completion_tokens: give either it or max_tokens, not both',
    )
  }
  const maxField = request.max_completion_tokens ? 'max_completion_tokens' : 'max_tokens'
  return {
    model: request.model,
    input: { kind: 'chat', messages: request.messages.map(templateMessage) },
    parameters: parameters(request, request.max_completion_tokens ?? request.max_tokens, maxField),
    stream: request.stream === true,
    includeUsage: request.stream_options?.include_usage === true,
    user: request.user ?? null,
  }
}

/** Parses a `POST /v1/completions` body; throws 400s naming the parameter (unsupported ones included). */
export function parseCompletionRequest(raw: unknown): GenerationRequest {
  const body = asObject(raw)
  refuseUnsupported(body, UNSUPPORTED_COMPLETION)
  const request = parse(CompletionRequestSchema, body)
  refuseStreamOptionsWithoutStream(request)
  const prompt = typeof request.prompt === 'string' ? request.prompt : (request.prompt[0] as string)
  return {
    model: request.model,
    input: { kind: 'completion', prompt },
    parameters: parameters(request, request.max_tokens, 'max_tokens'),
    stream: request.stream === true,
    includeUsage: request.stream_options?.include_usage === true,
    user: request.user ?? null,
  }
}
