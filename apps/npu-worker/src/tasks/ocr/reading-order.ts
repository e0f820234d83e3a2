import type { Quad } from './quad.js'

/**
 * Groups items with boxes into rows of text, top to bottom, each row left to right. Two boxes share a row
 * when they overlap vertically by more than half the shorter one, a rule that scales with the text size
 * (PP-OCR's `sorted_boxes` uses a fixed 10-pixel tolerance instead). A row can hold several boxes when the
 * detector split a line at wide gaps (words of a monospaced font, table columns).
 */
export function readingRows<T extends { box: Quad }>(items: readonly T[]): T[][] {
  const spans = items.map((item) => {
    const ys = item.box.map((p) => p[1])
    const xs = item.box.map((p) => p[0])
    return { item, top: Math.min(...ys), bottom: Math.max(...ys), left: Math.min(...xs) }
  })
  spans.sort((a, b) => a.top + a.bottom - (b.top + b.bottom))
  const rows: { top: number; bottom: number; members: typeof spans }[] = []
  for (const span of spans) {
    const height = span.bottom - span.top
    const row = rows.find((r) => {
      const overlap = Math.min(r.bottom, span.bottom) - Math.max(r.top, span.top)
      return overlap > 0.5 * Math.min(height, r.bottom - r.top)
    })
    if (row) {
      row.members.push(span)
      row.top = Math.min(row.top, span.top)
      row.bottom = Math.max(row.bottom, span.bottom)
    } else {
      rows.push({ top: span.top, bottom: span.bottom, members: [span] })
    }
  }
  rows.sort((a, b) => a.top + a.bottom - (b.top + b.bottom))
  return rows.map((row) => row.members.sort((a, b) => a.left - b.left).map((s) => s.item))
}

/** Items in reading order: rows top to bottom, left to right within a row. */
export function sortReadingOrder<T extends { box: Quad }>(items: readonly T[]): T[] {
  return readingRows(items).flat()
}
