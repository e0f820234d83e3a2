// Streaming text never holds half a character: byte-level tokens that carry part of a UTF-8 sequence and
// SentencePiece byte-fallback tokens (one byte each) are held back until the character is whole, and the
// pieces always concatenate to the decode of the whole answer.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { ByteStreamDetokenizer, WindowDetokenizer } from '../../src/generation/incremental-detokenizer.js'
import { TextTokenizer } from '../../src/generation/text-tokenizer.js'
import {
  llama2StyleTokenizer,
  metaspaceStyleTokenizer,
  SENTENCEPIECE_TOKENIZER_CONFIG,
} from './fixtures/sentencepiece-tokenizer.js'
import { isWellFormed, TINY_TOKENIZER } from './generation-harness.js'

/** Both strategies on every tokenizer: the byte stream where the vocabulary is byte-level, the window everywhere. */
const window = (tokenizer: TextTokenizer) => (prompt: readonly number[]) =>
  new WindowDetokenizer((ids) => tokenizer.decode(ids), prompt)
const own = (tokenizer: TextTokenizer) => (prompt: readonly number[]) => tokenizer.createDetokenizer(prompt)

const tokenizers: Array<[string, TextTokenizer]> = [
  ['byte-level BPE', TINY_TOKENIZER],
  [
    'Llama 2 style byte fallback',
    new TextTokenizer(llama2StyleTokenizer(), SENTENCEPIECE_TOKENIZER_CONFIG, 'llama2'),
  ],
  [
    'Metaspace byte fallback',
    new TextTokenizer(metaspaceStyleTokenizer(), SENTENCEPIECE_TOKENIZER_CONFIG, 'metaspace'),
  ],
]

type Make = (prompt: readonly number[]) => { push(id: number): string; flush(): string }
const cases = tokenizers.flatMap(([name, tokenizer]) => [
  [`${name}, its own detokenizer`, tokenizer, own(tokenizer)] as const,
  [`${name}, the decode window`, tokenizer, window(tokenizer)] as const,
])

/** Streams `answer` token by token after `prompt`; returns the pieces. */
function stream(make: Make, prompt: readonly number[], answer: readonly number[]): string[] {
  const detokenizer = make(prompt)
  const pieces = answer.map((id) => detokenizer.push(id))
  pieces.push(detokenizer.flush())
  return pieces.filter((p) => p !== '')
}

const text = fc
  .string({ unit: 'binary', minLength: 1, maxLength: 30 })
  .filter((s) => isWellFormed(s) && !s.includes('\uFFFD'))

describe.each(cases)('streaming detokenization: %s', (_, tokenizer, make) => {
  it('emits only whole characters, and the pieces concatenate to the text', () => {
    fc.assert(
      fc.property(text, text, (promptText, answerText) => {
        const prompt = tokenizer.encode(promptText, true)
        // The answer as the model would produce it: the tokens that follow the prompt in the joint encoding.
        const joint = tokenizer.encode(promptText + answerText, true)
        // Only where the joint encoding continues the prompt's tokens: BPE may merge across the boundary
        // ("a" + "p" -> "ap"), and then no token sequence after the prompt is the answer.
        fc.pre(prompt.every((id, i) => joint[i] === id))
        const answer = joint.slice(prompt.length)
        const pieces = stream(make, prompt, answer)
        for (const piece of pieces) {
          expect(piece.includes('\uFFFD'), JSON.stringify(piece)).toBe(false)
          expect(isWellFormed(piece)).toBe(true)
        }
        // In context: exactly what the answer tokens add to the prompt's text.
        const whole = tokenizer.decode(joint)
        const before = tokenizer.decode(prompt)
        if (whole.startsWith(before)) expect(pieces.join('')).toBe(whole.slice(before.length))
      }),
      { numRuns: 300 },
    )
  })

  it('holds a character split over several tokens until its last byte arrives', () => {
    const prompt = tokenizer.encode('hello', true)
    const answer = tokenizer.encode('hello 😀!', true).slice(prompt.length)
    const detokenizer = make(prompt)
    const pieces = answer.map((id) => detokenizer.push(id))
    expect(pieces.join('') + detokenizer.flush()).toBe(' 😀!')
    // No token holds the whole emoji (its four bytes span several), yet one piece carries all of it.
    expect(answer.some((id) => tokenizer.decode([id]).includes('😀'))).toBe(false)
    expect(pieces.some((p) => p.includes('😀'))).toBe(true)
    for (const piece of pieces) expect(piece.includes('\uFFFD')).toBe(false)
  })

  it('keeps the space before the first answer word (the prompt gives it context)', () => {
    const prompt = tokenizer.encode('hello', true)
    const answer = tokenizer.encode('hello world', true).slice(prompt.length)
    expect(stream(make, prompt, answer).join('')).toBe(' world')
  })
})

describe('streaming detokenization of arbitrary token sequences', () => {
  it('uses the byte stream for a byte-level vocabulary and the window for SentencePiece', () => {
    expect(TINY_TOKENIZER.createDetokenizer([])).toBeInstanceOf(ByteStreamDetokenizer)
    expect(tokenizers[1]?.[1].createDetokenizer([])).toBeInstanceOf(WindowDetokenizer)
  })

  it('ends with the decode of the whole sequence, broken bytes and special tokens included (byte-level)', () => {
    // Random ids, not an encoding: bytes that never form characters, and ChatML tokens in between.
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 511 }), { minLength: 1, maxLength: 40 }), (ids) => {
        for (const make of [own(TINY_TOKENIZER), window(TINY_TOKENIZER)]) {
          const pieces = stream(make, [], ids)
          expect(pieces.join('')).toBe(TINY_TOKENIZER.decode(ids))
          for (const piece of pieces) expect(isWellFormed(piece)).toBe(true)
        }
      }),
      { numRuns: 500 },
    )
  })

  it('flushes bytes that never completed a character as U+FFFD, the honest decode', () => {
    // 0xF0 0x9F starts a four-byte character that never finishes.
    const bytes = ['<0xF0>', '<0x9F>'].map((t) => tokenizers[1]?.[1].tokenId(t) as number)
    const tokenizer = tokenizers[1]?.[1] as TextTokenizer
    const detokenizer = new WindowDetokenizer((ids) => tokenizer.decode(ids), [])
    expect(bytes.map((id) => detokenizer.push(id))).toEqual(['', ''])
    expect(detokenizer.flush()).toBe(tokenizer.decode(bytes))
  })
})
