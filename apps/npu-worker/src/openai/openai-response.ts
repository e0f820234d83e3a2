import { randomUUID } from 'node:crypto'
import {
  type ChatCompletion,
  type ChatCompletionChunk,
  type Completion,
  type CompletionChunk,
  type CompletionUsage,
  type OpenAiFinishReason,
  SSE_DONE,
} from '@npu-fleet/protocol'
import type { GenerationUsage } from '../generation/text-generator.js'
import { WORKER_VERSION } from '../worker-version.js'

/** Which OpenAI object a route answers with. */
export type OpenAiKind = 'chat' | 'completion'

/** What every answer and chunk of one request shares. */
export interface ResponseHeader {
  id: string
  /** Unix seconds. */
  created: number
  model: string
  system_fingerprint: string
}

/** The fields one request's answer and chunks share; the fingerprint names the worker, backend and device. */
export function responseHeader(
  kind: OpenAiKind,
  model: string,
  backend: string,
  device: string,
): ResponseHeader {
  return {
    id: `${kind === 'chat' ? 'chatcmpl' : 'cmpl'}-${randomUUID()}`,
    created: Math.floor(Date.now() / 1000),
    model,
    system_fingerprint: `npu-worker/${WORKER_VERSION} ${backend}/${device}`,
  }
}

/** OpenAI's usage from the generator's token counts. */
export function usageOf(usage: GenerationUsage): CompletionUsage {
  return { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens }
}

/** The non-streaming answer. */
export function completionBody(
  kind: OpenAiKind,
  header: ResponseHeader,
  text: string,
  finishReason: OpenAiFinishReason,
  usage: CompletionUsage,
): ChatCompletion | Completion {
  if (kind === 'chat') {
    return {
      ...header,
      object: 'chat.completion',
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: text },
          finish_reason: finishReason,
          logprobs: null,
        },
      ],
      usage,
    }
  }
  return {
    ...header,
    object: 'text_completion',
    choices: [{ index: 0, text, finish_reason: finishReason, logprobs: null }],
    usage,
  }
}

/**
 * One streamed chunk: a piece of text (`first` adds the chat role), or the end (`finishReason`). With
 * `include_usage` every chunk carries `usage: null`, as OpenAI's do.
 */
export function chunkBody(
  kind: OpenAiKind,
  header: ResponseHeader,
  piece: { text?: string; first?: boolean; finishReason?: OpenAiFinishReason },
  includeUsage: boolean,
): ChatCompletionChunk | CompletionChunk {
  const finish_reason = piece.finishReason ?? null
  const usage = includeUsage ? { usage: null } : {}
  if (kind === 'chat') {
    const delta = {
      ...(piece.first ? { role: 'assistant' as const } : {}),
      ...(piece.text !== undefined ? { content: piece.text } : {}),
    }
    return {
      ...header,
      object: 'chat.completion.chunk',
      choices: [{ index: 0, delta, finish_reason, logprobs: null }],
      ...usage,
    }
  }
  return {
    ...header,
    object: 'text_completion',
    choices: [{ index: 0, text: piece.text ?? '', finish_reason, logprobs: null }],
    ...usage,
  }
}

/** The last chunk with `include_usage`: no choices, the request's usage. */
export function usageChunkBody(
  kind: OpenAiKind,
  header: ResponseHeader,
  usage: CompletionUsage,
): ChatCompletionChunk | CompletionChunk {
  return kind === 'chat'
    ? { ...header, object: 'chat.completion.chunk', choices: [], usage }
    : { ...header, object: 'text_completion', choices: [], usage }
}

/** One server-sent event carrying `data` (JSON, or the `[DONE]` marker). */
export function sseEvent(data: unknown): string {
  return `data: ${data === SSE_DONE ? SSE_DONE : JSON.stringify(data)}\n\n`
}

/**
 * The framed event of one piece of text, as {@link chunkBody} would serialize it, built from a prefix and suffix
 * serialized once per request: a stream writes one per token, so only the text is serialized each time.
 */
export function pieceEventWriter(
  kind: OpenAiKind,
  header: ResponseHeader,
  includeUsage: boolean,
): (text: string) => string {
  const marker = '\u0000piece\u0000'
  const framed = sseEvent(chunkBody(kind, header, { text: marker }, includeUsage))
  const [before, after] = framed.split(JSON.stringify(marker)) as [string, string]
  return (text) => `${before}${JSON.stringify(text)}${after}`
}
