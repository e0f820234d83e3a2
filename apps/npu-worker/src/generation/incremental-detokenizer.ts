/** Token ids to text, as the model's tokenizer decodes them (special tokens skipped). */
export type DecodeTokens = (ids: readonly number[]) => string

/** Turns an answer's tokens into text as they come; see the two implementations below. */
export interface StreamingDetokenizer {
  /** Adds one answer token; returns the text that became final (often empty while a character is incomplete). */
  push(id: number): string
  /** At the end of the answer: whatever is still held back (an incomplete character decodes as U+FFFD). */
  flush(): string
}

/** What one token of a byte-level vocabulary contributes to the text. */
export type TokenPiece =
  /** Raw UTF-8 bytes (a normal token: possibly part of a character, possibly several characters). */
  | { kind: 'bytes'; bytes: Uint8Array }
  /** Literal text (an added token that is not special). */
  | { kind: 'text'; text: string }
  /** Nothing (a special token, or an id with no token). */
  | { kind: 'skip' }

/**
 * Streaming detokenization for byte-level vocabularies (GPT-2, Llama 3, Qwen2): each token is bytes, fed to a
 * streaming UTF-8 decoder, which emits exactly the characters that are complete. It decodes as the
 * ByteLevel decoder of @huggingface/tokenizers does (same decoder options; an added token ends the byte run
 * before it), in O(1) per token where re-decoding a window costs several decoder calls.
 */
export class ByteStreamDetokenizer implements StreamingDetokenizer {
  readonly #piece: (id: number) => TokenPiece
  readonly #utf8 = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true })

  constructor(piece: (id: number) => TokenPiece) {
    this.#piece = piece
  }

  push(id: number): string {
    const piece = this.#piece(id)
    if (piece.kind === 'skip') return ''
    if (piece.kind === 'bytes') return this.#utf8.decode(piece.bytes, { stream: true })
    return this.#utf8.decode() + piece.text
  }

  flush(): string {
    return this.#utf8.decode()
  }
}

/** How many prompt tokens give the first answer token its context (a leading space, a word joined to it). */
const CONTEXT_TOKENS = 5
/** U+FFFD, what a decoder writes for bytes that are not (yet) a whole UTF-8 character. */
const REPLACEMENT = '\uFFFD'

/**
 * Streaming detokenization for any tokenizer, through its own decoder, never emitting half a character (a
 * SentencePiece byte-fallback token holds one byte of one). Each new token re-decodes a short window (from
 * the last emitted point) and emits only what the window adds, once it no longer ends in U+FFFD; so the
 * pieces concatenate to the decode of the whole answer. The window starts a few prompt tokens back so that
 * the first answer token decodes in context (a SentencePiece decoder strips the leading space of the first
 * token it sees). This is the method of Hugging Face TGI and vLLM.
 */
export class WindowDetokenizer implements StreamingDetokenizer {
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

  push(id: number): string {
    this.#ids.push(id)
    return this.#emit(false)
  }

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
