import { Tokenizer } from '@huggingface/tokenizers'
import { readJsonFile } from '../models/json-file.js'
import { CHAR_TO_BYTE } from './byte-level-alphabet.js'
import {
  ByteStreamDetokenizer,
  type StreamingDetokenizer,
  type TokenPiece,
  WindowDetokenizer,
} from './incremental-detokenizer.js'

/**
 * The part of @huggingface/tokenizers' Tokenizer used here. Its bundled types import their own files without
 * extensions, which NodeNext cannot resolve (the class types as `any`), so the surface is spelled out.
 */
interface HfTokenizer {
  encode(text: string, options?: { add_special_tokens?: boolean }): { ids: number[] }
  decode(
    ids: number[],
    options?: { skip_special_tokens?: boolean; clean_up_tokenization_spaces?: boolean },
  ): string
  token_to_id(token: string): number | undefined
  id_to_token(id: number): string | undefined
  get_added_tokens_decoder(): Map<number, { content: string; special: boolean }>
}

/** The special tokens a chat template refers to, from tokenizer_config.json (absent ones are null). */
export interface SpecialTokens {
  bos_token: string | null
  eos_token: string | null
  pad_token: string | null
  unk_token: string | null
}

/** A token field of tokenizer_config.json: a string, or an AddedToken object `{content}`. */
function tokenContent(value: unknown): string | null {
  if (typeof value === 'string') return value
  if (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { content?: unknown }).content === 'string'
  ) {
    return (value as { content: string }).content
  }
  return null
}

/**
 * A language model's Hugging Face tokenizer (`tokenizer.json`, byte-level BPE as GPT-2 / Llama 3 / Qwen2 or
 * SentencePiece-style BPE with Metaspace and byte fallback as Llama 2 / Mistral) run with
 * @huggingface/tokenizers, plus its `tokenizer_config.json` (special tokens, chat template). Covers the gaps
 * of that library found here: `decode([])` throws, ids without a token (a model's padded vocabulary) would
 * decode as `undefined`, and an absent `clean_up_tokenization_spaces` reads as true.
 */
export class TextTokenizer {
  /** Special tokens named by tokenizer_config.json. */
  readonly specialTokens: SpecialTokens
  /** Ids of every special added token (never part of decoded text). */
  readonly specialIds: ReadonlySet<number>
  /** The raw tokenizer_config.json (empty when the model has none). */
  readonly config: Readonly<Record<string, unknown>>
  readonly #tokenizer: HfTokenizer
  /** Byte-level vocabularies (a top-level ByteLevel decoder): each token's piece, filled on first use. */
  readonly #pieces: Map<number, TokenPiece> | null
  readonly #addedTokens: ReadonlyMap<number, { content: string; special: boolean }>

  /** Builds from parsed files; `source` names the tokenizer in errors. Throws when it cannot be used. */
  constructor(
    tokenizerJson: Record<string, unknown>,
    tokenizerConfig: Record<string, unknown>,
    source: string,
  ) {
    const model = tokenizerJson.model as Record<string, unknown> | null | undefined
    if (!model || typeof model !== 'object' || typeof model.vocab !== 'object' || model.vocab === null) {
      throw new Error(
        `${source}: model.vocab is missing (a tokenizer.json from Hugging Face tokenizers is expected)`,
      )
    }
    // The library requires every pipeline key (Rust tokenizers writes null for absent ones) and an array of added tokens.
    const json = {
      normalizer: null,
      pre_tokenizer: null,
      post_processor: null,
      decoder: null,
      ...tokenizerJson,
      added_tokens: Array.isArray(tokenizerJson.added_tokens) ? tokenizerJson.added_tokens : [],
    }
    try {
      this.#tokenizer = new Tokenizer(json, tokenizerConfig) as HfTokenizer
    } catch (error) {
      throw new Error(`${source}: @huggingface/tokenizers cannot load it: ${(error as Error).message}`)
    }
    this.config = tokenizerConfig
    this.specialTokens = {
      bos_token: tokenContent(tokenizerConfig.bos_token),
      eos_token: tokenContent(tokenizerConfig.eos_token),
      pad_token: tokenContent(tokenizerConfig.pad_token),
      unk_token: tokenContent(tokenizerConfig.unk_token),
    }
    this.#addedTokens = this.#tokenizer.get_added_tokens_decoder()
    const special = new Set<number>()
    for (const [id, token] of this.#addedTokens) if (token.special) special.add(id)
    this.specialIds = special
    const decoder = json.decoder as { type?: unknown } | null
    this.#pieces = decoder?.type === 'ByteLevel' ? new Map() : null
  }

  /**
   * A streaming detokenizer for an answer that follows `promptIds`: byte by byte for byte-level vocabularies,
   * else through a re-decoded window (either way, only whole characters come out).
   */
  createDetokenizer(promptIds: readonly number[]): StreamingDetokenizer {
    if (this.#pieces) return new ByteStreamDetokenizer((id) => this.#piece(id))
    return new WindowDetokenizer((ids) => this.decode(ids), promptIds)
  }

  /** What a token of a byte-level vocabulary contributes, as the ByteLevel decoder reads it. */
  #piece(id: number): TokenPiece {
    const pieces = this.#pieces as Map<number, TokenPiece>
    let piece = pieces.get(id)
    if (piece) return piece
    const added = this.#addedTokens.get(id)
    const token = this.#tokenizer.id_to_token(id)
    if (added) piece = added.special ? { kind: 'skip' } : { kind: 'text', text: added.content }
    else if (token === undefined) piece = { kind: 'skip' }
    else if ([...token].every((ch) => CHAR_TO_BYTE.has(ch))) {
      piece = { kind: 'bytes', bytes: Uint8Array.from(token, (ch) => CHAR_TO_BYTE.get(ch) as number) }
    } else {
      // A token outside the byte alphabet (a hand-written vocabulary): its UTF-8, as plain text.
      piece = { kind: 'bytes', bytes: new TextEncoder().encode(token) }
    }
    pieces.set(id, piece)
    return piece
  }

  /** Reads `tokenizer.json` and, when given, `tokenizer_config.json`. */
  static fromFiles(tokenizerPath: string, tokenizerConfigPath: string | null): TextTokenizer {
    const config = tokenizerConfigPath ? readJsonFile(tokenizerConfigPath) : {}
    return new TextTokenizer(readJsonFile(tokenizerPath), config, tokenizerPath)
  }

  /** Token ids of `text`; `addSpecialTokens` runs the post-processor (a BOS token for Llama), off for chat prompts. */
  encode(text: string, addSpecialTokens: boolean): number[] {
    return this.#tokenizer.encode(text, { add_special_tokens: addSpecialTokens }).ids
  }

  /**
   * Text of `ids`, special tokens skipped. Never cleans up tokenization spaces: that rewrite (" ." to ".")
   * depends on what follows, so a streamed decode would not stay a prefix of the whole.
   */
  decode(ids: readonly number[]): string {
    const known = ids.filter((id) => this.#tokenizer.id_to_token(id) !== undefined)
    if (known.length === 0) return ''
    return this.#tokenizer.decode(known, { skip_special_tokens: true, clean_up_tokenization_spaces: false })
  }

  /** The id of a token, or undefined. */
  tokenId(token: string): number | undefined {
    return this.#tokenizer.token_to_id(token)
  }
}
