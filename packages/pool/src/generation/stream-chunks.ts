import {
  type ChatCompletionChunk,
  ChatCompletionChunkSchema,
  type CompletionChunk,
  CompletionChunkSchema,
  type CompletionUsage,
  SSE_DONE,
} from '@npu-fleet/protocol'
import type { GenerationKind } from '../dispatch/routed-needs.js'
import { workerError } from '../retry/attempt-outcome.js'

/** A streamed chunk of either route. */
export type GenerationChunk = ChatCompletionChunk | CompletionChunk

/** One event of a worker's stream, read. */
export type StreamEvent<C extends GenerationChunk> =
  | { kind: 'chunk'; chunk: C }
  /** `data: [DONE]`: the stream ended as it should. */
  | { kind: 'done' }
  /** The worker's error event (after text went out, errors are the stream's last event). */
  | { kind: 'error'; code: string | null; message: string }
  /** Not JSON, or not a chunk of this route. */
  | { kind: 'invalid'; message: string }

/** Reads one `data:` payload of a `kind` stream. */
export function readEvent<C extends GenerationChunk>(kind: GenerationKind, data: string): StreamEvent<C> {
  if (data === SSE_DONE) return { kind: 'done' }
  let body: unknown
  try {
    body = JSON.parse(data)
  } catch {
    return { kind: 'invalid', message: 'an event of the stream is not JSON' }
  }
  const schema = kind === 'chat' ? ChatCompletionChunkSchema : CompletionChunkSchema
  const parsed = schema.safeParse(body)
  if (parsed.success) return { kind: 'chunk', chunk: parsed.data as C }
  const error = workerError(body)
  if (error !== null) return { kind: 'error', code: error.code, message: error.message }
  return { kind: 'invalid', message: `an event of the stream is not a ${kind} chunk` }
}

/** The text a chunk adds (chat: `delta.content`; completion: `text`). */
export function chunkText(chunk: GenerationChunk): string {
  const choice = chunk.choices[0]
  if (choice === undefined) return ''
  return 'delta' in choice ? (choice.delta.content ?? '') : choice.text
}

/** The usage of the final chunk `include_usage` adds (no choices), or null for every other chunk. */
export function chunkUsage(chunk: GenerationChunk): CompletionUsage | null {
  return chunk.choices.length === 0 ? (chunk.usage ?? null) : null
}
