import type { ChatCompletionChunk, CompletionChunk, CompletionUsage } from '@npu-fleet/protocol'
import { isInt, isNonNegativeInt, isRecord } from '../dispatch/json-checks.js'
import type { GenerationKind } from '../dispatch/routed-needs.js'

/**
 * The streamed chunk of `kind` read from a `JSON.parse` result, or null when it is not one: a hand-written
 * copy of `ChatCompletionChunkSchema` / `CompletionChunkSchema` (`@npu-fleet/protocol`) for the hot path, one
 * call per token. Those schemas stay the reference: a property test holds this function to the same accept and
 * reject and the same output (the schema's keys only, in its order, unknown keys dropped). A body that already
 * is that output (what a worker sends) is returned itself, so a token costs no object beyond the parsed one; any
 * other is copied. Null only means "not on the fast path": the caller asks the schema, which also names the
 * field. `keepUsage` false leaves `usage` out of a chunk with choices (what a caller that did not ask for usage sees).
 */
export function fastChunk(
  kind: GenerationKind,
  body: unknown,
  keepUsage: boolean,
): ChatCompletionChunk | CompletionChunk | null {
  if (!isRecord(body)) return null
  const { id, created, model, system_fingerprint, object, choices, usage } = body
  if (typeof id !== 'string' || !isInt(created) || typeof model !== 'string') return null
  if (
    system_fingerprint !== undefined &&
    system_fingerprint !== null &&
    typeof system_fingerprint !== 'string'
  )
    return null
  if (object !== (kind === 'chat' ? 'chat.completion.chunk' : 'text_completion')) return null
  if (!Array.isArray(choices)) return null
  let readUsage: CompletionUsage | null | undefined = usage as null | undefined
  if (usage !== undefined && usage !== null) {
    readUsage = fastUsage(usage)
    if (readUsage === null) return null
  }
  let exact = readUsage === usage && inShapeOrder(body, CHUNK_KEYS)
  for (let i = 0; i < choices.length; i++) {
    const choice = kind === 'chat' ? chatChoice(choices[i]) : completionChoice(choices[i])
    if (choice === null) return null
    if (choice !== choices[i]) exact = false
  }
  const dropUsage = !keepUsage && usage !== undefined && choices.length > 0
  if (exact && !dropUsage) return body as unknown as ChatCompletionChunk | CompletionChunk
  // Not the schema's output as it stands: built afresh (the choices checked above, read again to copy them).
  const read: unknown[] = new Array(choices.length)
  for (let i = 0; i < choices.length; i++)
    read[i] = kind === 'chat' ? chatChoice(choices[i]) : completionChoice(choices[i])
  const chunk: Record<string, unknown> = { id, created, model }
  if (system_fingerprint !== undefined) chunk.system_fingerprint = system_fingerprint
  chunk.object = object
  chunk.choices = read
  if (readUsage !== undefined && !dropUsage) chunk.usage = readUsage
  return chunk as unknown as ChatCompletionChunk | CompletionChunk
}

type Choice = Record<string, unknown>

// The schemas' keys in their order: zod's output lists the keys present in this order.
const CHUNK_KEYS = ['id', 'created', 'model', 'system_fingerprint', 'object', 'choices', 'usage'] as const
const CHAT_CHOICE_KEYS = ['index', 'delta', 'finish_reason', 'logprobs'] as const
const DELTA_KEYS = ['role', 'content'] as const
const COMPLETION_CHOICE_KEYS = ['index', 'text', 'finish_reason', 'logprobs'] as const
const USAGE_KEYS = ['prompt_tokens', 'completion_tokens', 'total_tokens'] as const

/** The choice itself when it already is the schema's output, a copy when it has other keys, null when invalid. */
function chatChoice(value: unknown): Choice | null {
  if (!isRecord(value)) return null
  const { index, delta, finish_reason, logprobs } = value
  if (!isNonNegativeInt(index) || !isRecord(delta) || !isFinishReason(finish_reason) || logprobs !== null)
    return null
  const { role, content } = delta
  if (role !== undefined && role !== 'assistant') return null
  if (content !== undefined && typeof content !== 'string') return null
  if (inShapeOrder(value, CHAT_CHOICE_KEYS) && inShapeOrder(delta, DELTA_KEYS)) return value
  const readDelta: Record<string, unknown> = {}
  if (role !== undefined) readDelta.role = role
  if (content !== undefined) readDelta.content = content
  return { index, delta: readDelta, finish_reason, logprobs }
}

function completionChoice(value: unknown): Choice | null {
  if (!isRecord(value)) return null
  const { index, text, finish_reason, logprobs } = value
  if (
    !isNonNegativeInt(index) ||
    typeof text !== 'string' ||
    !isFinishReason(finish_reason) ||
    logprobs !== null
  )
    return null
  if (inShapeOrder(value, COMPLETION_CHOICE_KEYS)) return value
  return { index, text, finish_reason, logprobs }
}

function fastUsage(value: unknown): CompletionUsage | null {
  if (!isRecord(value)) return null
  const { prompt_tokens, completion_tokens, total_tokens } = value
  if (
    !isNonNegativeInt(prompt_tokens) ||
    !isNonNegativeInt(completion_tokens) ||
    !isNonNegativeInt(total_tokens)
  )
    return null
  if (inShapeOrder(value, USAGE_KEYS)) return value as CompletionUsage
  return { prompt_tokens, completion_tokens, total_tokens }
}

/**
 * True when every own key of `value` is one of `keys`, in their order (optional ones may be missing): zod's
 * output for it would hold the same keys in the same order. `for...in` walks the keys without building a list.
 */
function inShapeOrder(value: Record<string, unknown>, keys: readonly string[]): boolean {
  let next = 0
  for (const key in value) {
    while (next < keys.length && keys[next] !== key) next++
    if (next === keys.length) return false
    next++
  }
  return true
}

function isFinishReason(value: unknown): value is 'stop' | 'length' | null {
  return value === null || value === 'stop' || value === 'length'
}
