import type { ChatCompletionChunk, CompletionChunk, CompletionUsage } from '@npu-fleet/protocol'
import type { GenerationKind } from '../dispatch/routed-needs.js'

/**
 * The streamed chunk of `kind` read from a `JSON.parse` result, or null when it is not one: a hand-written
 * copy of `ChatCompletionChunkSchema` / `CompletionChunkSchema` (`@npu-fleet/protocol`) for the hot path, one
 * call per token. Those schemas stay the reference: a property test holds this function to the same accept and
 * reject and the same output (a fresh object with the schema's keys only, in its order, unknown keys dropped).
 * Null only means "not on the fast path": the caller asks the schema, which also names the field. `keepUsage`
 * false leaves `usage` out of a chunk with choices (what a caller that did not ask for usage sees).
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
  let readUsage: CompletionUsage | null | undefined
  if (usage === undefined || usage === null) readUsage = usage
  else {
    readUsage = fastUsage(usage)
    if (readUsage === null) return null
  }
  // Chunks carry one choice (the worker generates n = 1): an array of exactly the length read, no resizing.
  const read: unknown[] = new Array(choices.length)
  for (let i = 0; i < choices.length; i++) {
    const choice = kind === 'chat' ? chatChoice(choices[i]) : completionChoice(choices[i])
    if (choice === null) return null
    read[i] = choice
  }
  const chunk: Record<string, unknown> = { id, created, model }
  if (system_fingerprint !== undefined) chunk.system_fingerprint = system_fingerprint
  chunk.object = object
  chunk.choices = read
  if (readUsage !== undefined && (keepUsage || read.length === 0)) chunk.usage = readUsage
  return chunk as unknown as ChatCompletionChunk | CompletionChunk
}

type Choice = Record<string, unknown>

function chatChoice(value: unknown): Choice | null {
  if (!isRecord(value)) return null
  const { index, delta, finish_reason, logprobs } = value
  if (!isNonNegativeInt(index) || !isRecord(delta) || !isFinishReason(finish_reason) || logprobs !== null)
    return null
  const { role, content } = delta
  if (role !== undefined && role !== 'assistant') return null
  if (content !== undefined && typeof content !== 'string') return null
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
  return { prompt_tokens, completion_tokens, total_tokens }
}

// zod's object check: an object, not null, not an array.
function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

// zod's `.int()`: a safe integer (finite, whole, within ±2^53 − 1).
function isInt(value: unknown): value is number {
  return Number.isSafeInteger(value)
}

function isNonNegativeInt(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0
}

function isFinishReason(value: unknown): value is 'stop' | 'length' | null {
  return value === null || value === 'stop' || value === 'length'
}
