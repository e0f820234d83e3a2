import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { CtcCharset } from '../../../src/tasks/ocr/ctc-decoder.js'
import { DEFAULT_DICTIONARY_PATH } from '../../../src/tasks/ocr/ocr-pipeline.js'

function charset(keys: string): CtcCharset {
  const dir = mkdtempSync(join(tmpdir(), 'ctc-'))
  writeFileSync(join(dir, 'keys.txt'), `${[...keys].join('\n')}\n`)
  return CtcCharset.fromFile(join(dir, 'keys.txt'))
}

/** `[1, T, C]` probabilities where step t puts `p` on class `classes[t]` and the rest on the blank. */
function steps(classes: number[], size: number, p = 0.9) {
  const data = new Float32Array(classes.length * size)
  classes.forEach((c, t) => {
    data[t * size] = 1 - p
    data[t * size + c] = c === 0 ? 1 : p
  })
  return { datatype: 'FP32' as const, shape: [1, classes.length, size], data }
}

describe('CtcCharset', () => {
  it('has blank + one class per dictionary line + space for ppocr_keys_v1 (6625, the model output)', () => {
    expect(CtcCharset.fromFile(DEFAULT_DICTIONARY_PATH).size).toBe(6625)
  })

  it('collapses repeats, drops blanks, and keeps doubled letters split by a blank', () => {
    const cs = charset('abl') // classes: 0 blank, 1 a, 2 b, 3 l, 4 space
    const decoded = cs.decode(steps([2, 2, 1, 3, 3, 0, 3, 4, 4, 1, 0], cs.size))
    expect(decoded).toEqual([{ text: 'ball a', confidence: expect.closeTo(0.9, 6) }])
  })

  it('gives confidence 0 and no text when every step is blank', () => {
    const cs = charset('ab')
    expect(cs.decode(steps([0, 0, 0], cs.size))).toEqual([{ text: '', confidence: 0 }])
  })

  it('refuses an output whose class count does not match the dictionary', () => {
    const cs = charset('ab')
    expect(() => cs.decode(steps([1], 7))).toThrow(/expected \[N, T, 4\]/)
  })
})
