import { describe, expect, it } from 'vitest'
import { mergeSplitLines } from '../../../src/tasks/ocr/line-merging.js'
import type { Quad } from '../../../src/tasks/ocr/quad.js'
import { readingRows, sortReadingOrder } from '../../../src/tasks/ocr/reading-order.js'

const rect = (x0: number, y0: number, x1: number, y1: number): Quad => [
  [x0, y0],
  [x1, y0],
  [x1, y1],
  [x0, y1],
]

describe('mergeSplitLines', () => {
  it('joins overlapping or nearly touching parts of one line into their union', () => {
    const merged = mergeSplitLines([
      { quad: rect(100, 10, 180, 40), score: 0.8 },
      { quad: rect(10, 12, 105, 41), score: 0.9 },
      { quad: rect(184, 11, 260, 40), score: 0.7 }, // 4 px gap, under 0.25 x 29
    ])
    expect(merged).toEqual([{ quad: rect(10, 10, 260, 41), score: 0.9 }])
  })

  it('keeps boxes apart across a wide gap, on other rows, of other heights, or tilted', () => {
    const tilted: Quad = [
      [10, 100],
      [100, 130],
      [95, 145],
      [5, 115],
    ]
    const boxes = [
      { quad: rect(10, 10, 100, 40), score: 0.9 },
      { quad: rect(130, 10, 200, 40), score: 0.9 }, // 30 px gap
      { quad: rect(10, 45, 100, 75), score: 0.9 }, // next row
      { quad: rect(95, 50, 150, 140), score: 0.9 }, // much taller
      { quad: tilted, score: 0.9 },
    ]
    expect(mergeSplitLines(boxes)).toHaveLength(5)
    expect(mergeSplitLines(boxes)).toEqual(expect.arrayContaining(boxes))
  })
})

describe('reading order', () => {
  it('reads rows top to bottom and left to right, tolerating slightly uneven baselines', () => {
    const items = [
      { id: 'row2-right', box: rect(200, 62, 300, 90) },
      { id: 'row1-right', box: rect(200, 14, 300, 40) },
      { id: 'row2-left', box: rect(10, 60, 150, 88) },
      { id: 'row1-left', box: rect(10, 10, 150, 38) },
      { id: 'row3', box: rect(50, 110, 120, 130) },
    ]
    expect(sortReadingOrder(items).map((i) => i.id)).toEqual([
      'row1-left',
      'row1-right',
      'row2-left',
      'row2-right',
      'row3',
    ])
    expect(readingRows(items).map((row) => row.length)).toEqual([2, 2, 1])
  })
})
