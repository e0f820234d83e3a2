/** The matcher's answer to one piece of text. */
export interface StopMatch {
  /** Text that is final now: it can no longer be part of a stop string. */
  text: string
  /** True when a stop string matched: `text` ends right before it, and generation ends. */
  stopped: boolean
}

/**
 * Cuts generated text at the first stop string, also when one spans several pieces: text that could still
 * be the start of a stop string is held back until the next piece decides. So emitted text never contains
 * a stop string or any part of one.
 */
export class StopStringMatcher {
  readonly #stops: readonly string[]
  /** Text received but not yet emitted (a possible start of a stop string). */
  #held = ''

  constructor(stops: readonly string[]) {
    this.#stops = stops.filter((s) => s.length > 0)
  }

  /** Takes the next piece of text. */
  push(piece: string): StopMatch {
    if (this.#stops.length === 0) return { text: piece, stopped: false }
    const text = this.#held + piece
    let cut = -1
    for (const stop of this.#stops) {
      const at = text.indexOf(stop)
      if (at >= 0 && (cut < 0 || at < cut)) cut = at
    }
    if (cut >= 0) {
      this.#held = ''
      return { text: text.slice(0, cut), stopped: true }
    }
    const keep = this.#longestStopPrefixSuffix(text)
    this.#held = text.slice(text.length - keep)
    return { text: text.slice(0, text.length - keep), stopped: false }
  }

  /** At the end of generation: the held-back text, which turned out not to start a stop string. */
  flush(): string {
    const rest = this.#held
    this.#held = ''
    return rest
  }

  /** Length of the longest suffix of `text` that is a proper prefix of some stop string. */
  #longestStopPrefixSuffix(text: string): number {
    let best = 0
    for (const stop of this.#stops) {
      for (let n = Math.min(stop.length - 1, text.length); n > best; n--) {
        if (text.endsWith(stop.slice(0, n))) {
          best = n
          break
        }
      }
    }
    return best
  }
}
