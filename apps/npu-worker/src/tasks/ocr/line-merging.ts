import type { TextBox } from './db-postprocess.js'
import type { Quad } from './quad.js'

/** Boxes tilted more than this (degrees) are left alone: merging is for horizontal lines. */
const MAX_TILT_DEGREES = 5

/**
 * Joins boxes the detector split inside one horizontal line. DB splits a line at wide word gaps (monospaced
 * fonts, large type); each part is then unclipped into its neighbour, so recognition reads a letter of the
 * neighbour twice ("48213 3 due"). Two boxes merge when they sit on the same row (vertical overlap over 70% of
 * the shorter, heights within 1.5x) and the gap between them is below `maxGap` times the shorter height
 * (negative when they overlap). Merged boxes become the axis-aligned union; every other box is kept as it was.
 */
export function mergeSplitLines(boxes: readonly TextBox[], maxGap = 0.25): TextBox[] {
  const tilted: TextBox[] = []
  // `original` stays set while a span is one unmerged box, whose exact (possibly slightly tilted) quad is kept.
  const spans: {
    left: number
    right: number
    top: number
    bottom: number
    score: number
    original: TextBox | null
  }[] = []
  for (const box of boxes) {
    const [tl, tr] = box.quad
    const tilt = (Math.atan2(tr[1] - tl[1], tr[0] - tl[0]) * 180) / Math.PI
    if (Math.abs(tilt) > MAX_TILT_DEGREES) {
      tilted.push(box)
      continue
    }
    const xs = box.quad.map((p) => p[0])
    const ys = box.quad.map((p) => p[1])
    spans.push({
      left: Math.min(...xs),
      right: Math.max(...xs),
      top: Math.min(...ys),
      bottom: Math.max(...ys),
      score: box.score,
      original: box,
    })
  }
  spans.sort((a, b) => a.left - b.left)
  const merged: typeof spans = []
  for (const span of spans) {
    const h = span.bottom - span.top
    const into = merged.find((m) => {
      const mh = m.bottom - m.top
      const overlap = Math.min(m.bottom, span.bottom) - Math.max(m.top, span.top)
      const shorter = Math.min(h, mh)
      return (
        overlap > 0.7 * shorter &&
        Math.max(h, mh) < 1.5 * shorter &&
        span.left - m.right < maxGap * shorter &&
        span.right > m.right
      )
    })
    if (into) {
      into.original = null
      into.score = Math.max(into.score, span.score)
      into.left = Math.min(into.left, span.left)
      into.right = Math.max(into.right, span.right)
      into.top = Math.min(into.top, span.top)
      into.bottom = Math.max(into.bottom, span.bottom)
    } else {
      merged.push({ ...span })
    }
  }
  const straight = merged.map(
    (m): TextBox =>
      m.original ?? {
        quad: [
          [m.left, m.top],
          [m.right, m.top],
          [m.right, m.bottom],
          [m.left, m.bottom],
        ] as Quad,
        score: m.score,
      },
  )
  return straight.concat(tilted)
}
