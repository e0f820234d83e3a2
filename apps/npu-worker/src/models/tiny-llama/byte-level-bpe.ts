// A byte-level BPE trainer (GPT-2's scheme, with Qwen2's pre-tokenizer) and the Hugging Face tokenizer.json it
// writes. The trainer runs at build time on a small built-in corpus, so the embedded language model ships a
// real tokenizer of the kind Qwen2 and Llama 3 use: any text encodes (every byte has a token), merges make
// frequent words single tokens, and characters outside the corpus split into byte tokens, some of which hold
// only part of a UTF-8 character (what the incremental detokenizer must never emit half of).

import { BYTE_TO_CHAR } from '../../generation/byte-level-alphabet.js'

/** Qwen2's pre-tokenizer pattern, exactly as its tokenizer.json states it (Rust regex syntax). */
export const QWEN2_SPLIT_PATTERN =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

/** The same pattern in JavaScript syntax (no inline `(?i:` groups), for the trainer's own pre-tokenization. */
const PIECE_PATTERN =
  /'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD]|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+/gu

/** A trained vocabulary: token strings in id order, and the merges in rank order. */
export interface ByteLevelBpe {
  /** Token (byte-level characters) of every id: the 256 bytes (in byte order), then each new merge result. */
  tokens: string[]
  /** Merges in rank order, as token pairs. */
  merges: Array<[string, string]>
}

/** Splits text as the pre-tokenizer does and maps each piece's UTF-8 bytes to byte-level characters. */
export function byteLevelPieces(text: string): string[] {
  const encoder = new TextEncoder()
  return (text.normalize('NFC').match(PIECE_PATTERN) ?? []).map((piece) =>
    Array.from(encoder.encode(piece), (b) => BYTE_TO_CHAR[b] as string).join(''),
  )
}

/**
 * Trains byte-level BPE on `corpus` until the vocabulary has `vocabSize` tokens (or every piece is one token).
 * Deterministic: the most frequent pair wins, ties go to the pair whose tokens sort first.
 */
export function trainByteLevelBpe(corpus: string, vocabSize: number): ByteLevelBpe {
  const tokens = [...BYTE_TO_CHAR]
  const known = new Set(tokens)
  const merges: Array<[string, string]> = []
  // Each distinct piece once, with how often it occurs: training works on symbol sequences per piece.
  const counts = new Map<string, number>()
  for (const piece of byteLevelPieces(corpus)) counts.set(piece, (counts.get(piece) ?? 0) + 1)
  const words = [...counts].map(([piece, count]) => ({ symbols: [...piece], count }))

  while (tokens.length < vocabSize) {
    const pairs = new Map<string, number>()
    for (const { symbols, count } of words) {
      for (let i = 0; i + 1 < symbols.length; i++) {
        const key = `${symbols[i]}\u0000${symbols[i + 1]}`
        pairs.set(key, (pairs.get(key) ?? 0) + count)
      }
    }
    let best: string | null = null
    let bestCount = 0
    for (const [key, count] of pairs) {
      if (count > bestCount || (count === bestCount && best !== null && key < best)) {
        best = key
        bestCount = count
      }
    }
    if (best === null) break
    const [left, right] = best.split('\u0000') as [string, string]
    const merged = left + right
    merges.push([left, right])
    // Two different pairs can spell the same token ("ab"+"c", "a"+"bc"): one id serves both merges.
    if (!known.has(merged)) {
      known.add(merged)
      tokens.push(merged)
    }
    for (const word of words) {
      const next: string[] = []
      for (let i = 0; i < word.symbols.length; i++) {
        if (word.symbols[i] === left && word.symbols[i + 1] === right) {
          next.push(merged)
          i++
        } else {
          next.push(word.symbols[i] as string)
        }
      }
      word.symbols = next
    }
  }
  return { tokens, merges }
}

/**
 * The Hugging Face `tokenizer.json` of a trained vocabulary, laid out as Qwen2's: NFC normalizer, the Qwen2
 * split pattern then ByteLevel (no prefix space), BPE with the merges, ByteLevel decoder, no post-processor
 * tokens. `specialTokens` are added after the vocabulary, in order, as special added tokens.
 */
export function buildByteLevelTokenizerJson(bpe: ByteLevelBpe, specialTokens: readonly string[]): string {
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false }
  const tokenizer = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: specialTokens.map((content, i) => ({
      id: bpe.tokens.length + i,
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: { type: 'NFC' },
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: QWEN2_SPLIT_PATTERN }, behavior: 'Isolated', invert: false },
        byteLevel,
      ],
    },
    post_processor: byteLevel,
    decoder: byteLevel,
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: '',
      end_of_word_suffix: '',
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab: Object.fromEntries(bpe.tokens.map((token, id) => [token, id])),
      merges: bpe.merges,
    },
  }
  return `${JSON.stringify(tokenizer, null, 1)}\n`
}
