// The tokenizer wrapper on the three tokenizer.json families a language model ships: byte-level BPE (the
// generated model, laid out as Qwen2's), Llama 2 style SentencePiece BPE with byte fallback, and Metaspace.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { TextTokenizer } from '../../src/generation/text-tokenizer.js'
import { byteLevelPieces, trainByteLevelBpe } from '../../src/models/tiny-llama/byte-level-bpe.js'
import { TINY_LLAMA_CORPUS } from '../../src/models/tiny-llama/training-corpus.js'
import {
  llama2StyleTokenizer,
  metaspaceStyleTokenizer,
  SENTENCEPIECE_TOKENIZER_CONFIG,
} from './fixtures/sentencepiece-tokenizer.js'
import { isWellFormed, TINY_TOKENIZER } from './generation-harness.js'

const llama2 = new TextTokenizer(llama2StyleTokenizer(), SENTENCEPIECE_TOKENIZER_CONFIG, 'llama2-style')
const metaspace = new TextTokenizer(
  metaspaceStyleTokenizer(),
  SENTENCEPIECE_TOKENIZER_CONFIG,
  'metaspace-style',
)

/** Well-formed strings of any code points (lone surrogates cannot be UTF-8 encoded). */
const anyText = fc.string({ unit: 'binary', maxLength: 40 }).filter((s) => isWellFormed(s))

describe('byte-level BPE (the generated model)', () => {
  it('trains deterministically, and frequent corpus words become single tokens', () => {
    const a = trainByteLevelBpe(TINY_LLAMA_CORPUS, 400)
    const b = trainByteLevelBpe(TINY_LLAMA_CORPUS, 400)
    expect(a).toEqual(b)
    expect(a.tokens.length).toBe(400)
    expect(TINY_TOKENIZER.encode(' the', false)).toHaveLength(1)
    expect(TINY_TOKENIZER.encode(' worker', false)).toHaveLength(1)
  })

  it('splits text into the same pieces as the library pre-tokenizes it (the Qwen2 pattern)', () => {
    expect(byteLevelPieces("It's 2026, Zürich!")).toEqual([
      'It',
      "'s",
      'Ġ',
      '2',
      '0',
      '2',
      '6',
      ',',
      'ĠZÃ¼rich',
      '!',
    ])
  })

  it('decodes every text it encodes, exactly (NFC), with no special tokens added', () => {
    fc.assert(
      fc.property(anyText, (text) => {
        const ids = TINY_TOKENIZER.encode(text, true)
        expect(TINY_TOKENIZER.decode(ids)).toBe(text.normalize('NFC'))
      }),
      { numRuns: 300 },
    )
  })

  it('recognises the ChatML tokens inside text and skips them when decoding', () => {
    const ids = TINY_TOKENIZER.encode('<|im_start|>user\nHello<|im_end|>', false)
    expect(ids[0]).toBe(510)
    expect(ids.at(-1)).toBe(511)
    expect(TINY_TOKENIZER.decode(ids)).toBe('user\nHello')
    expect([...TINY_TOKENIZER.specialIds].sort()).toEqual([509, 510, 511])
  })

  it('decodes nothing to the empty string and ignores ids without a token (a padded vocabulary)', () => {
    expect(TINY_TOKENIZER.decode([])).toBe('')
    expect(TINY_TOKENIZER.decode([100_000])).toBe('')
  })
})

describe.each([
  ['Llama 2 style (Prepend/Replace, byte fallback)', llama2],
  ['Metaspace style', metaspace],
])('SentencePiece-style BPE: %s', (_, tokenizer) => {
  it('adds the BOS token for a completion prompt, and none for a rendered chat prompt', () => {
    expect(tokenizer.encode('hello world', true)[0]).toBe(1)
    expect(tokenizer.encode('hello world', false)[0]).not.toBe(1)
  })

  it('merges known words and falls back to UTF-8 bytes for other characters', () => {
    const ids = tokenizer.encode('hello 日', false)
    expect(tokenizer.decode([ids[0] as number])).toBe('hello')
    // 日 is E6 97 A5: three byte tokens.
    expect(ids.slice(-3).map((id) => tokenizer.decode([id]))).toEqual(['\uFFFD', '\uFFFD', '\uFFFD'])
    expect(tokenizer.decode(ids)).toBe('hello 日')
  })

  it('decodes every text it encodes (the leading space the normalizer prepends is stripped again)', () => {
    fc.assert(
      fc.property(
        anyText.filter((t) => !t.startsWith(' ')),
        (text) => {
          expect(tokenizer.decode(tokenizer.encode(text, true))).toBe(text)
        },
      ),
      { numRuns: 200 },
    )
  })
})

describe('TextTokenizer errors', () => {
  it('names the file and what is wrong', () => {
    expect(() => new TextTokenizer({ model: {} }, {}, 'x/tokenizer.json')).toThrow(
      /x\/tokenizer\.json: model\.vocab is missing/,
    )
    expect(() => TextTokenizer.fromFiles('/nonexistent/tokenizer.json', null)).toThrow(
      /cannot read it \(ENOENT\)/,
    )
  })
})
