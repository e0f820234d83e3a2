// Streaming text never holds half a character: byte-level tokens that carry part of a UTF-8 sequence and
// SentencePiece byte-fallback tokens (one byte each) are held back until the character is whole, and the
// pieces always concatenate to the decode of the whole answer.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { IncrementalDetokenizer } from '../../src/generation/incremental-detokenizer.js'
import { TextTokenizer } from '../../src/generation/text-tokenizer.js'
import {
  llama2StyleTokenizer,
  metaspaceStyleTokenizer,
  SENTENCEPIECE_TOKENIZER_CONFIG,
} from './fixtures/sentencepiece-tokenizer.js'
import { isWellFormed, TINY_TOKENIZER } from './generation-harness.js'

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

/** Streams `answer` token by token after `prompt`; returns the pieces. */
function stream(tokenizer: TextTokenizer, prompt: readonly number[], answer: readonly number[]): string[] {
  const detokenizer = new IncrementalDetokenizer((ids) => tokenizer.decode(ids), prompt)
  const pieces = answer.map((id) => detokenizer.push(id))
  pieces.push(detokenizer.flush())
  return pieces.filter((p) => p !== '')
}

const text = fc
  .string({ unit: 'binary', minLength: 1, maxLength: 30 })
  .filter((s) => isWellFormed(s) && !s.includes('\uFFFD'))

describe.each(tokenizers)('IncrementalDetokenizer with %s', (_, tokenizer) => {
  it('emits only whole characters, and the pieces concatenate to the text', () => {
    fc.assert(
      fc.property(text, text, (promptText, answerText) => {
        const prompt = tokenizer.encode(promptText, true)
        // The answer as the model would produce it: the tokens that follow the prompt in the joint encoding.
        const joint = tokenizer.encode(promptText + answerText, true)
        const answer = joint.slice(prompt.length)
        const pieces = stream(tokenizer, prompt, answer)
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
    const detokenizer = new IncrementalDetokenizer((ids) => tokenizer.decode(ids), prompt)
    const pieces = answer.map((id) => detokenizer.push(id))
    expect(pieces.join('') + detokenizer.flush()).toBe(' 😀!')
    // Some token carried only part of the emoji's four bytes, and emitted nothing.
    expect(pieces.filter((p) => p === '').length).toBeGreaterThan(0)
    expect(pieces.some((p) => p.includes('😀'))).toBe(true)
  })

  it('keeps the space before the first answer word (the prompt gives it context)', () => {
    const prompt = tokenizer.encode('hello', true)
    const answer = tokenizer.encode('hello world', true).slice(prompt.length)
    expect(stream(tokenizer, prompt, answer).join('')).toBe(' world')
  })
})

describe('IncrementalDetokenizer at the end of an answer', () => {
  it('flushes bytes that never completed a character as U+FFFD, the honest decode', () => {
    // 0xF0 0x9F starts a four-byte character that never finishes.
    const bytes = ['<0xF0>', '<0x9F>'].map((t) => tokenizers[1]?.[1].tokenId(t) as number)
    const tokenizer = tokenizers[1]?.[1] as TextTokenizer
    const detokenizer = new IncrementalDetokenizer((ids) => tokenizer.decode(ids), [])
    expect(bytes.map((id) => detokenizer.push(id))).toEqual(['', ''])
    expect(detokenizer.flush()).toBe(tokenizer.decode(bytes))
  })
})
