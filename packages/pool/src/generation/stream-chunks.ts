import {
  type ChatCompletionChunk,
  ChatCompletionChunkSchema,
  type CompletionChunk,
  CompletionChunkSchema,
  type CompletionUsage,
  issueLines,
  SSE_DONE,
} from '@npu-fleet/protocol'
import type { GenerationKind } from '../dispatch/routed-needs.js'
import { workerError } from '../retry/attempt-outcome.js'
import { fastChunk } from './chunk-shape.js'

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

/**
 * Reads one `data:` payload of a `kind` stream. A chunk is checked by {@link fastChunk} (the schema's hand-written
 * copy); what it turns down goes to the protocol schema, which decides and names the field of a broken chunk.
 * `keepUsage` false drops `usage` from chunks with choices (the caller did not ask for it).
 */
export function readEvent<C extends GenerationChunk>(
  kind: GenerationKind,
  data: string,
  keepUsage: boolean,
): StreamEvent<C> {
  if (data === SSE_DONE) return { kind: 'done' }
  let body: unknown
  try {
    body = JSON.parse(data)
  } catch {
    return { kind: 'invalid', message: 'an event of the stream is not JSON' }
  }
  const fast = fastChunk(kind, body, keepUsage)
  if (fast !== null) return { kind: 'chunk', chunk: fast as C }
  const schema = kind === 'chat' ? ChatCompletionChunkSchema : CompletionChunkSchema
  const parsed = schema.safeParse(body)
  if (parsed.success) {
    const chunk = parsed.data as C
    if (!keepUsage && chunk.choices.length > 0) delete chunk.usage
    return { kind: 'chunk', chunk }
  }
  const error = workerError(body)
  if (error !== null) return { kind: 'error', code: error.code, message: error.message }
  return {
    kind: 'invalid',
    message: `an event of the stream is not a ${kind} chunk: ${issueLines(parsed.error.issues).join('; ')}`,
  }
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
