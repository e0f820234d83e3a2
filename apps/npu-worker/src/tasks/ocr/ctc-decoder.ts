import { readFileSync } from 'node:fs'
import type { Tensor } from '../../backends/tensor.js'

/** One decoded line: its text and the mean probability of the characters kept. */
export interface DecodedLine {
  text: string
  confidence: number
}

/**
 * The recognition model's classes: index 0 is the CTC blank, then one class per line of the dictionary
 * (`ppocr_keys_v1.txt`), then a space (PP-OCR's `use_space_char`).
 */
export class CtcCharset {
  readonly #classes: string[]

  private constructor(keys: string[]) {
    this.#classes = ['', ...keys, ' ']
  }

  /** Reads a PP-OCR dictionary: one character per line, UTF-8. */
  static fromFile(path: string): CtcCharset {
    const text = readFileSync(path, 'utf8')
    const keys = text.split(/\r?\n/)
    // A trailing newline is not a character.
    if (keys.at(-1) === '') keys.pop()
    if (keys.length === 0) throw new Error(`dictionary ${path} is empty`)
    return new CtcCharset(keys)
  }

  /** Number of classes the model must output (blank + keys + space). */
  get size(): number {
    return this.#classes.length
  }

  /**
   * Greedy CTC decoding of `[N, T, C]` probabilities: the most likely class per step, repeats collapsed,
   * blanks dropped. Confidence is the mean of the kept steps' probabilities (0 when nothing is kept).
   */
  decode(probabilities: Tensor): DecodedLine[] {
    const [n, steps, classes] = probabilities.shape
    if (probabilities.shape.length !== 3 || classes !== this.size || n === undefined || steps === undefined) {
      throw new Error(
        `recognition output has shape [${probabilities.shape}]; expected [N, T, ${this.size}] for the dictionary`,
      )
    }
    if (!(probabilities.data instanceof Float32Array)) throw new Error('recognition output is not FP32')
    const data = probabilities.data
    const lines: DecodedLine[] = []
    for (let line = 0; line < n; line++) {
      let text = ''
      let sum = 0
      let kept = 0
      let previous = -1
      for (let t = 0; t < steps; t++) {
        const base = (line * steps + t) * classes
        let best = 0
        let bestP = data[base]!
        for (let c = 1; c < classes; c++) {
          const p = data[base + c]!
          if (p > bestP) {
            bestP = p
            best = c
          }
        }
        if (best !== 0 && best !== previous) {
          text += this.#classes[best]
          sum += bestP
          kept++
        }
        previous = best
      }
      lines.push({ text, confidence: kept === 0 ? 0 : sum / kept })
    }
    return lines
  }
}
