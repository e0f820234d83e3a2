import { describe, expect, it } from 'vitest'
import { bertNormalizerRepair } from '../../../src/tasks/embeddings/bert-normalizer-repair.js'

describe('bertNormalizerRepair', () => {
  it('applies to BertNormalizer only, and only for the options it mends', () => {
    expect(bertNormalizerRepair(null)).toBeNull()
    expect(bertNormalizerRepair({ type: 'NFKC' })).toBeNull()
    expect(
      bertNormalizerRepair({ type: 'BertNormalizer', clean_text: false, handle_chinese_chars: false }),
    ).toBeNull()
  })

  it('spaces CJK ideographs, in the BMP and beyond it', () => {
    const repair = bertNormalizerRepair({
      type: 'BertNormalizer',
      clean_text: false,
      handle_chinese_chars: true,
    })
    expect(repair?.('a𠀀b中c丽')).toBe('a 𠀀 b 中 c 丽 ')
    // Hangul and kana are not "Chinese characters" to BERT.
    expect(repair?.('한국어カナ')).toBe('한국어カナ')
  })

  it('drops unassigned code points and lone surrogates in one pass', () => {
    const repair = bertNormalizerRepair({
      type: 'BertNormalizer',
      clean_text: true,
      handle_chinese_chars: false,
    })
    expect(repair?.('a\u0378b\uffffc')).toBe('abc')
    expect(repair?.('x\ud863\u{e0003}\udf32y')).toBe('xy')
    // Assigned characters, private use and real surrogate pairs stay (the tokenizer's own cleaning handles them).
    expect(repair?.('\ue000😀é')).toBe('\ue000😀é')
  })
})
