import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { StopStringMatcher } from '../../src/generation/stop-string-matcher.js'

/** Feeds `pieces`; returns what was emitted and whether a stop matched. */
function run(stops: string[], pieces: string[]): { text: string; stopped: boolean } {
  const matcher = new StopStringMatcher(stops)
  let text = ''
  for (const piece of pieces) {
    const m = matcher.push(piece)
    text += m.text
    if (m.stopped) return { text, stopped: true }
  }
  return { text: text + matcher.flush(), stopped: false }
}

describe('StopStringMatcher', () => {
  it('cuts right before the stop string, also when it spans pieces', () => {
    expect(run(['END'], ['abc E', 'N', 'D and more'])).toEqual({ text: 'abc ', stopped: true })
    expect(run(['\n\n'], ['line\n', '\nnext'])).toEqual({ text: 'line', stopped: true })
  })

  it('never emits a possible start of a stop string before it is decided', () => {
    const matcher = new StopStringMatcher(['STOP'])
    expect(matcher.push('go ST')).toEqual({ text: 'go ', stopped: false })
    expect(matcher.push('A')).toEqual({ text: 'STA', stopped: false })
  })

  it('takes the earliest of several stop strings', () => {
    expect(run(['world', 'lo w'], ['hello world'])).toEqual({ text: 'hel', stopped: true })
  })

  it('gives back held text at the end when no stop matched', () => {
    expect(run(['STOP'], ['abc ST'])).toEqual({ text: 'abc ST', stopped: false })
  })

  it('cuts any text at the first occurrence, however it is split (property)', () => {
    fc.assert(
      fc.property(
        fc.string({ maxLength: 40 }),
        fc.array(fc.string({ minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 3 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        (text, stops, cuts) => {
          const points = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b)
          const pieces = [0, ...points, text.length]
            .slice(1)
            .map((end, i, all) => text.slice(i === 0 ? 0 : (all[i - 1] as number), end))
          const first = Math.min(...stops.map((s) => text.indexOf(s)).filter((i) => i >= 0))
          const expected = Number.isFinite(first)
            ? { text: text.slice(0, first), stopped: true }
            : { text, stopped: false }
          expect(run(stops, pieces)).toEqual(expected)
        },
      ),
      { numRuns: 500 },
    )
  })
})
