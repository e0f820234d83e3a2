import { Tokenizer } from '@huggingface/tokenizers'
import { readJsonFile } from '../../models/json-file.js'
import { bertNormalizerRepair } from './bert-normalizer-repair.js'

/** Pre-tokenizers that split only at whitespace (and punctuation): a cut at whitespace never changes earlier tokens. */
const WORD_LOCAL_PRE_TOKENIZERS = new Set(['BertPreTokenizer', 'Whitespace', 'WhitespaceSplit'])
/** Characters the long-text shortcut may cut before: whitespace to every tokenizer it is used with. */
const CUT_BEFORE = new Set([' ', '\t', '\n', '\r'])
/** Long-text shortcut: tokenise a prefix of this many characters per wanted token first. */
const CHARS_PER_TOKEN_BUDGET = 8

/**
 * The part of @huggingface/tokenizers' Tokenizer used here. Its bundled types import their own files without
 * extensions, which NodeNext cannot resolve (the class types as `any`), so the surface is spelled out.
 */
interface HfTokenizer {
  encode(text: string): { ids: number[] }
  token_to_id(token: string): number | undefined
}

/** One text as the model sees it: token ids, special tokens included, truncated to the asked length. */
export interface EncodedText {
  ids: number[]
  /** True when tokens were cut off to fit. */
  truncated: boolean
}

/**
 * A Hugging Face `tokenizer.json` (WordPiece BERT family) run with `@huggingface/tokenizers`, plus what that
 * library leaves out: truncation that keeps the special tokens, the pad id, BERT-faithful normalisation
 * (bert-normalizer-repair.ts) and Rust `tokenizers`' defaults for keys a file leaves out.
 */
export class SentenceTokenizer {
  /** Id that fills padded positions (tokenizer.json `padding.pad_id`, else `[PAD]`, else 0). */
  readonly padId: number
  /** Special ids the post-processor puts before and after one text (`[CLS]` and `[SEP]` for BERT). */
  readonly prefix: readonly number[]
  readonly suffix: readonly number[]
  readonly #tokenizer: HfTokenizer
  readonly #repair: ((text: string) => string) | null
  readonly #wordLocal: boolean

  /** Builds from a parsed tokenizer.json; `source` names it in errors. Throws when it cannot be used. */
  constructor(json: unknown, source: string) {
    if (typeof json !== 'object' || json === null || Array.isArray(json)) {
      throw new Error(`${source}: not a JSON object`)
    }
    const config = withRustDefaults(json as Record<string, unknown>)
    const model = config.model as Record<string, unknown> | null
    if (!model || typeof model !== 'object' || typeof model.vocab !== 'object' || model.vocab === null) {
      throw new Error(
        `${source}: model.vocab is missing (a tokenizer.json from Hugging Face tokenizers is expected)`,
      )
    }
    try {
      this.#tokenizer = new Tokenizer(config, {}) as HfTokenizer
    } catch (error) {
      throw new Error(`${source}: @huggingface/tokenizers cannot load it: ${(error as Error).message}`)
    }
    this.#repair = bertNormalizerRepair(config.normalizer)
    const addedTokens = (config.added_tokens as Array<{ content?: unknown }>).map((t) => String(t.content))
    const preTokenizer = (config.pre_tokenizer as { type?: unknown } | null)?.type
    this.#wordLocal =
      typeof preTokenizer === 'string' &&
      WORD_LOCAL_PRE_TOKENIZERS.has(preTokenizer) &&
      addedTokens.every((t) => !/\s/.test(t))

    const padding = config.padding as { pad_id?: unknown } | null
    this.padId =
      typeof padding?.pad_id === 'number' ? padding.pad_id : (this.#tokenizer.token_to_id('[PAD]') ?? 0)

    // Where the text goes in the post-processor's template: the empty text gives all the special tokens,
    // a one-word text shows how many of them come first.
    const empty = this.#tokenizer.encode('').ids
    const probe = this.#tokenizer.encode('a').ids
    let split = 0
    while (split < empty.length && empty[split] === probe[split]) split++
    const tail = empty.slice(split)
    if (probe.length <= empty.length || tail.some((id, i) => probe[probe.length - tail.length + i] !== id)) {
      throw new Error(`${source}: its post-processor does not put special tokens only around the text`)
    }
    this.prefix = empty.slice(0, split)
    this.suffix = tail
  }

  /** Reads and builds `path`; throws with the path in the message. */
  static fromFile(path: string): SentenceTokenizer {
    return new SentenceTokenizer(readJsonFile(path), path)
  }

  /** Special tokens around every text. */
  get specialCount(): number {
    return this.prefix.length + this.suffix.length
  }

  /**
   * Token ids of `text` with the special tokens, at most `maxTokens` long: the text's own tokens are cut at the
   * end, the special tokens are kept (Hugging Face's `truncation: longest_first` for one text).
   */
  encode(text: string, maxTokens: number): EncodedText {
    const room = maxTokens - this.specialCount
    if (room < 1)
      throw new Error(`maxTokens ${maxTokens} leaves no room next to ${this.specialCount} special tokens`)
    const repaired = this.#repair ? this.#repair(text) : text
    const content = this.#contentIds(repaired, room)
    const truncated = content.length > room
    return {
      ids: [...this.prefix, ...(truncated ? content.slice(0, room) : content), ...this.suffix],
      truncated,
    }
  }

  /** The text's own token ids: all of them, or (long text) at least the first `room` of them. */
  #contentIds(text: string, room: number): number[] {
    const budget = room * CHARS_PER_TOKEN_BUDGET
    if (this.#wordLocal && text.length > 2 * budget) {
      // Long text: with a pre-tokenizer that splits at whitespace, the tokens of a prefix cut before a
      // whitespace character are exactly the first tokens of the whole text. If the prefix already has
      // enough of them, the rest of the text (possibly megabytes) is never tokenised.
      let cut = budget
      while (cut > 0 && !CUT_BEFORE.has(text[cut] as string)) cut--
      if (cut > 0) {
        const head = this.#strip(this.#tokenizer.encode(text.slice(0, cut)).ids)
        if (head.length > room) return head
      }
    }
    return this.#strip(this.#tokenizer.encode(text).ids)
  }

  #strip(ids: number[]): number[] {
    return ids.slice(this.prefix.length, ids.length - this.suffix.length)
  }
}

/**
 * Rust `tokenizers` (which wrote every real tokenizer.json) fills absent keys with defaults; the JS library
 * reads an absent flag as false. Fill the ones that change results, so a hand-written file behaves the same.
 */
function withRustDefaults(json: Record<string, unknown>): Record<string, unknown> {
  const config: Record<string, unknown> = {
    normalizer: null,
    pre_tokenizer: null,
    post_processor: null,
    decoder: null,
    ...json,
    added_tokens: Array.isArray(json.added_tokens) ? json.added_tokens : [],
  }
  const normalizer = config.normalizer as Record<string, unknown> | null
  if (normalizer && typeof normalizer === 'object' && normalizer.type === 'BertNormalizer') {
    config.normalizer = {
      clean_text: true,
      handle_chinese_chars: true,
      strip_accents: null,
      lowercase: true,
      ...normalizer,
    }
  }
  return config
}
