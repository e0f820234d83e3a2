/** Token ids to text, as the model's tokenizer decodes them (special tokens skipped). */
export type DecodeTokens = (ids: readonly number[]) => string

/** How many prompt tokens give the first answer token its context (a leading space, a word joined to it). */
const CONTEXT_TOKENS = 5
/** U+FFFD, what a decoder writes for bytes that are not (yet) a whole UTF-8 character. */
const REPLACEMENT = '\uFFFD'

/**
 * Turns the answer's tokens into text as they come, never emitting half a character: a byte-level token
 * may hold the first bytes of a character, a SentencePiece byte-fallback token one byte of it. Each new token
 * re-decodes a short window (from the last emitted point) and emits only what the window adds, once it no
 * longer ends in U+FFFD; so the emitted pieces concatenate to the decode of the whole answer. The window
 * starts a few prompt tokens back so that the first answer token decodes in context (a SentencePiece
 * decoder strips the leading space of the first token it sees).
 */
export class IncrementalDetokenizer {
  readonly #decode: DecodeTokens
  readonly #ids: number[]
  /** Start of the decode window, and the end of the part already emitted. */
  #prefixOffset: number
  #readOffset: number

  constructor(decode: DecodeTokens, promptIds: readonly number[]) {
    this.#decode = decode
    const context = promptIds.slice(Math.max(0, promptIds.length - CONTEXT_TOKENS))
    this.#ids = [...context]
    this.#prefixOffset = 0
    this.#readOffset = context.length
  }

  /** Adds one answer token; returns the text that became final (often empty while a character is incomplete). */
  push(id: number): string {
    this.#ids.push(id)
    return this.#emit(false)
  }

  /** At the end of the answer: whatever is still held back (an incomplete character decodes as U+FFFD). */
  flush(): string {
    return this.#emit(true)
  }

  #emit(final: boolean): string {
    const prefix = this.#decode(this.#ids.slice(this.#prefixOffset, this.#readOffset))
    const full = this.#decode(this.#ids.slice(this.#prefixOffset))
    if (full.length <= prefix.length || (!final && full.endsWith(REPLACEMENT))) return ''
    // A decoder may rewrite the end of the prefix once more tokens follow; emit only from the common point.
    const piece = full.startsWith(prefix)
      ? full.slice(prefix.length)
      : full.slice(commonPrefixLength(prefix, full))
    this.#prefixOffset = this.#readOffset
    this.#readOffset = this.#ids.length
    return piece
  }
}

function commonPrefixLength(a: string, b: string): number {
  let i = 0
  while (i < a.length && i < b.length && a[i] === b[i]) i++
  return i
}
