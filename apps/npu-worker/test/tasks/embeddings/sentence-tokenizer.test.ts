import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import {
  buildTinyBertTokenizerJson,
  buildTinyBertVocabTxt,
  buildTinyBertVocabulary,
} from '../../../src/models/tiny-bert-model.js'
import { SentenceTokenizer } from '../../../src/tasks/embeddings/sentence-tokenizer.js'
import { TRICKY_TEXTS } from './fixtures/tricky-texts.js'
import { pythonReferenceMissing, runReference, skipNote } from './python-reference.js'

const dir = mkdtempSync(join(tmpdir(), 'tiny-bert-tokenizer-'))
const vocab = buildTinyBertVocabulary()
const vocabPath = join(dir, 'vocab.txt')
const tokenizerPath = join(dir, 'tokenizer.json')
writeFileSync(vocabPath, buildTinyBertVocabTxt(vocab))
writeFileSync(tokenizerPath, buildTinyBertTokenizerJson(vocab))
const tokenizer = SentenceTokenizer.fromFile(tokenizerPath)
const id = (token: string) => vocab.indexOf(token)
/** Far beyond any text here: the whole tokenisation, untruncated. */
const UNLIMITED = 10_000_000

/** Deterministic random strings drawn from many Unicode blocks (all assigned or unassigned alike in Unicode 14 and 17). */
function fuzzTexts(count: number, seed: number): string[] {
  let state = seed >>> 0
  const random = () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
  const blocks: Array<[number, number]> = [
    [0x20, 0x7e],
    [0x00, 0x20],
    [0x7f, 0xff],
    [0x100, 0x24f],
    [0x300, 0x36f],
    [0x370, 0x3ff],
    [0x400, 0x4ff],
    [0x600, 0x6ff],
    [0x900, 0x97f],
    [0xe00, 0xe7f],
    [0x1100, 0x11ff],
    [0x1e00, 0x1eff],
    [0x2000, 0x206f],
    [0x2e80, 0x2ef3],
    [0x3000, 0x30ff],
    [0x3130, 0x318f],
    [0x4e00, 0x4e80],
    [0xac00, 0xac40],
    [0xd800, 0xdfff],
    [0xe000, 0xe010],
    [0xfb00, 0xfb4f],
    [0xfe00, 0xfe0f],
    [0xff00, 0xffef],
    [0xfff0, 0xffff],
    [0x10000, 0x10100],
    [0x1d400, 0x1d410],
    [0x1f1e6, 0x1f1ff],
    [0x1f300, 0x1f64f],
    [0x20000, 0x20010],
    [0x2a700, 0x2a710],
    [0x2f800, 0x2f810],
    [0xe0000, 0xe007f],
  ]
  return Array.from({ length: count }, () => {
    let text = ''
    const length = 1 + Math.floor(random() * 14)
    for (let i = 0; i < length; i++) {
      const [lo, hi] = blocks[Math.floor(random() * blocks.length)] as [number, number]
      text += String.fromCodePoint(lo + Math.floor(random() * (hi - lo + 1)))
      if (random() < 0.2) text += ' '
      if (random() < 0.03) text += '[SEP]'
    }
    return text
  })
}

describe.skipIf(pythonReferenceMissing)(`tokenisation equals the Python BERT reference${skipNote}`, () => {
  const names = Object.keys(TRICKY_TEXTS)
  const texts = Object.values(TRICKY_TEXTS)

  it.each([UNLIMITED, 128, 16, 3])('on every tricky text, truncated to %i tokens', (maxTokens) => {
    const reference = runReference({ vocab: vocabPath, texts, sequence_length: maxTokens })
    texts.forEach((text, i) => {
      expect(tokenizer.encode(text, maxTokens).ids, names[i]).toEqual(reference.ids[i])
    })
  })

  it('on 4000 fuzzed strings from 32 Unicode blocks', () => {
    const fuzz = fuzzTexts(4000, 20_260_305)
    const reference = runReference({ vocab: vocabPath, texts: fuzz, sequence_length: UNLIMITED })
    const mismatches = fuzz.filter(
      (text, i) => tokenizer.encode(text, UNLIMITED).ids.join() !== reference.ids[i]?.join(),
    )
    expect(mismatches.map((t) => JSON.stringify(t))).toEqual([])
  })

  it('with the query prefix of bge in front', () => {
    const prefix = 'Represent this sentence for searching relevant passages: '
    const reference = runReference({ vocab: vocabPath, texts, prefix, sequence_length: 128 })
    texts.forEach((text, i) => {
      expect(tokenizer.encode(prefix + text, 128).ids, names[i]).toEqual(reference.ids[i])
    })
  })
})

describe('SentenceTokenizer', () => {
  it('wraps the text in [CLS] ... [SEP] and pads with [PAD]', () => {
    expect(tokenizer.prefix).toEqual([id('[CLS]')])
    expect(tokenizer.suffix).toEqual([id('[SEP]')])
    expect(tokenizer.padId).toBe(id('[PAD]'))
    expect(tokenizer.encode('Hello, world!', 128)).toEqual({
      ids: ['[CLS]', 'hello', ',', 'world', '!', '[SEP]'].map(id),
      truncated: false,
    })
    expect(tokenizer.encode('unbelievably', 128).ids).toEqual(
      ['[CLS]', 'un', '##believ', '##ably', '[SEP]'].map(id),
    )
  })

  it('truncates the text, never the special tokens, and says so', () => {
    const encoded = tokenizer.encode('one two three four five', 4)
    expect(encoded).toEqual({ ids: ['[CLS]', 'one', 'two', '[SEP]'].map(id), truncated: true })
    expect(tokenizer.encode('one two', 4).truncated).toBe(false)
    expect(() => tokenizer.encode('one', 2)).toThrow(/leaves no room next to 2 special tokens/)
  })

  it('tokenises only a prefix of a long text, with the same tokens as the whole text', () => {
    for (const [name, text] of Object.entries(TRICKY_TEXTS)) {
      const whole = tokenizer.encode(text, UNLIMITED).ids
      for (const maxTokens of [3, 16, 128, 512]) {
        const expected = whole.length <= maxTokens ? whole : [...whole.slice(0, maxTokens - 1), id('[SEP]')]
        expect(tokenizer.encode(text, maxTokens).ids, `${name} @ ${maxTokens}`).toEqual(expected)
      }
    }
  })

  it('spaces rare CJK ideographs and drops unassigned code points as BERT does', () => {
    expect(tokenizer.encode('a𠀀b', 128).ids).toEqual(['[CLS]', 'a', '[UNK]', 'b', '[SEP]'].map(id))
    expect(tokenizer.encode('a\u0378b', 128).ids).toEqual(['[CLS]', 'a', '##b', '[SEP]'].map(id))
    // Removing the unassigned U+E0003 must not join the two lone surrogates around it into U+28F32.
    expect(tokenizer.encode('a\ud863\u{e0003}\udf32b', 128).ids).toEqual(
      ['[CLS]', 'a', '##b', '[SEP]'].map(id),
    )
  })

  it('fills the BertNormalizer defaults of Rust tokenizers for keys a file leaves out', () => {
    const json = JSON.parse(buildTinyBertTokenizerJson(vocab))
    json.normalizer = { type: 'BertNormalizer' }
    const sparse = new SentenceTokenizer(json, 'sparse.json')
    for (const text of Object.values(TRICKY_TEXTS)) {
      expect(sparse.encode(text, 128).ids).toEqual(tokenizer.encode(text, 128).ids)
    }
  })

  it('keeps special tokens a template puts before the text when truncating', () => {
    const json = JSON.parse(buildTinyBertTokenizerJson(vocab))
    json.post_processor = {
      type: 'TemplateProcessing',
      single: [
        { SpecialToken: { id: '[CLS]', type_id: 0 } },
        { SpecialToken: { id: '[MASK]', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
      ],
      pair: [],
      special_tokens: {
        '[CLS]': { id: '[CLS]', ids: [id('[CLS]')], tokens: ['[CLS]'] },
        '[MASK]': { id: '[MASK]', ids: [id('[MASK]')], tokens: ['[MASK]'] },
      },
    }
    const template = new SentenceTokenizer(json, 'template.json')
    expect(template.prefix).toEqual([id('[CLS]'), id('[MASK]')])
    expect(template.suffix).toEqual([])
    expect(template.encode('one two three', 3).ids).toEqual(['[CLS]', '[MASK]', 'one'].map(id))
  })

  it('takes the pad id from tokenizer.json padding when it has one', () => {
    const json = JSON.parse(buildTinyBertTokenizerJson(vocab))
    json.padding = { strategy: 'BatchLongest', pad_id: 7, pad_token: '!' }
    expect(new SentenceTokenizer(json, 'padded.json').padId).toBe(7)
  })

  it('refuses files it cannot use, naming the file', () => {
    expect(() => SentenceTokenizer.fromFile(join(dir, 'missing.json'))).toThrow(
      /missing\.json: cannot read it \(ENOENT\)/,
    )
    const broken = join(dir, 'broken.json')
    writeFileSync(broken, '{"model": ')
    expect(() => SentenceTokenizer.fromFile(broken)).toThrow(/broken\.json: not valid JSON/)
    expect(() => new SentenceTokenizer([], 'array.json')).toThrow(/array\.json: not a JSON object/)
    expect(() => new SentenceTokenizer({ model: { type: 'WordPiece' } }, 'novocab.json')).toThrow(
      /novocab\.json: model\.vocab is missing/,
    )
    // A normaliser that erases every text leaves no way to see where the text goes in the template.
    const json = JSON.parse(buildTinyBertTokenizerJson(vocab))
    json.normalizer = { type: 'Replace', pattern: { Regex: '[\\s\\S]' }, content: '' }
    expect(() => new SentenceTokenizer(json, 'erasing.json')).toThrow(
      /erasing\.json: its post-processor does not put special tokens only around the text/,
    )
  })
})
