// @huggingface/tokenizers 0.2 departs from BERT's normaliser (and from the Rust `tokenizers` the models were
// trained with) in two places, found by comparing it with the reference tokenizer in
// test/tasks/embeddings/reference/ on fuzzed text:
// - CJK ideographs outside the BMP (Extensions B-F, Compatibility Supplement, e.g. U+20000 "𠀀") are not
//   spaced: it reads UTF-16 code units, so a surrogate pair never matches the CJK ranges, and "a𠀀b" becomes
//   one [UNK] instead of a / [UNK] / b.
// - `clean_text` does not drop unassigned code points (category Cn), which BERT treats as control
//   characters; they turn a whole word into [UNK].
// The repair runs on the raw text before the library, and does what BERT's normaliser would: it spaces those
// ideographs and removes Cn code points together with lone surrogates (Cs, which the library drops as well;
// removing them in the same pass keeps two lone halves around a removed character from joining into a pair).

/** CJK ideographs the way BERT defines "Chinese characters", BMP ranges included (spacing them twice is harmless). */
const CJK_IDEOGRAPH =
  /[\u4E00-\u9FFF\u3400-\u4DBF\uF900-\uFAFF\u{20000}-\u{2A6DF}\u{2A700}-\u{2B73F}\u{2B740}-\u{2B81F}\u{2B820}-\u{2CEAF}\u{2F800}-\u{2FA1F}]/gu
const UNASSIGNED_OR_SURROGATE = /[\p{Cn}\p{Cs}]/gu

/** The `normalizer` entry of a tokenizer.json, as far as the repair reads it. */
interface NormalizerConfig {
  type?: unknown
  clean_text?: unknown
  handle_chinese_chars?: unknown
}

/**
 * The text repair for a tokenizer.json `normalizer`, or null when it needs none (not a BertNormalizer, or
 * the affected options are off). Spacing every CJK ideograph up front also gives long CJK text whitespace
 * boundaries, which the tokenizer's long-text shortcut relies on.
 */
export function bertNormalizerRepair(normalizer: unknown): ((text: string) => string) | null {
  if (typeof normalizer !== 'object' || normalizer === null) return null
  const config = normalizer as NormalizerConfig
  if (config.type !== 'BertNormalizer') return null
  // Rust `tokenizers` defaults both options to true when the keys are absent.
  const cleanText = config.clean_text !== false
  const spaceChinese = config.handle_chinese_chars !== false
  if (!cleanText && !spaceChinese) return null
  return (text) => {
    let repaired = cleanText ? text.replace(UNASSIGNED_OR_SURROGATE, '') : text
    if (spaceChinese) repaired = repaired.replace(CJK_IDEOGRAPH, ' $& ')
    return repaired
  }
}
