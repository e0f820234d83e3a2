import { describe, expect, it } from 'vitest'
import {
  DEFAULT_DB_PARAMETERS,
  extractTextBoxes,
  type ProbabilityMap,
} from '../../../src/tasks/ocr/db-postprocess.js'

/** A map of `width` x `height` (row stride `stride`) with `value` inside each given rectangle [x0, y0, x1, y1]. */
function map(
  width: number,
  height: number,
  rects: [number, number, number, number, number][],
  extra: Partial<ProbabilityMap> = {},
): ProbabilityMap {
  const stride = extra.stride ?? width
  const data = new Float32Array(stride * (extra.height ?? height))
  for (const [x0, y0, x1, y1, value] of rects) {
    for (let y = y0; y <= y1; y++) for (let x = x0; x <= x1; x++) data[y * stride + x] = value
  }
  return { data, stride, width, height, imageWidth: width, imageHeight: height, ...extra }
}

describe('extractTextBoxes (DB post-processing)', () => {
  it('turns a text kernel into its unclipped box (distance = area * 1.5 / perimeter)', () => {
    // Pixel centres 10..49 by 20..29: a 39 x 9 rectangle; d = 39*9*1.5 / (2*48) = 5.484375.
    const [box, ...rest] = extractTextBoxes(map(64, 48, [[10, 20, 49, 29, 0.9]]))
    expect(rest).toEqual([])
    const d = (39 * 9 * 1.5) / (2 * 48)
    expect(box!.score).toBeCloseTo(0.9, 6)
    const expected = [
      [10 - d, 20 - d],
      [49 + d, 20 - d],
      [49 + d, 29 + d],
      [10 - d, 29 + d],
    ]
    box!.quad.forEach((p, i) => {
      expect(p[0]).toBeCloseTo(expected[i]![0]!, 6)
      expect(p[1]).toBeCloseTo(expected[i]![1]!, 6)
    })
  })

  it('finds separate regions separately and scales them to the original image, clipped to it', () => {
    const boxes = extractTextBoxes(
      map(
        100,
        50,
        [
          [2, 2, 40, 10, 0.8],
          [60, 30, 90, 40, 0.95],
        ],
        { imageWidth: 200, imageHeight: 100 },
      ),
    )
    expect(boxes).toHaveLength(2)
    for (const box of boxes) {
      for (const [x, y] of box.quad) {
        expect(x).toBeGreaterThanOrEqual(0)
        expect(x).toBeLessThanOrEqual(200)
        expect(y).toBeGreaterThanOrEqual(0)
        expect(y).toBeLessThanOrEqual(100)
      }
    }
    const second = boxes.find((b) => b.score > 0.9)!
    // Kernel centre (75, 35) in map pixels is (150, 70) in the image.
    const cx = second.quad.reduce((s, p) => s + p[0], 0) / 4
    const cy = second.quad.reduce((s, p) => s + p[1], 0) / 4
    expect(cx).toBeCloseTo(150, 6)
    expect(cy).toBeCloseTo(70, 6)
  })

  it('drops regions under the box threshold, thinner than the minimum size, or below the pixel threshold', () => {
    const boxes = extractTextBoxes(
      map(120, 60, [
        [5, 5, 50, 15, 0.5], // above the 0.3 pixel threshold, below the 0.6 box threshold
        [60, 5, 110, 6, 0.99], // 1 pixel thin: short side under min_size 3
        [5, 30, 50, 45, 0.25], // under the pixel threshold: not text at all
      ]),
    )
    expect(boxes).toEqual([])
    expect(
      extractTextBoxes(map(120, 60, [[5, 5, 50, 15, 0.5]]), { ...DEFAULT_DB_PARAMETERS, boxThreshold: 0.4 }),
    ).toHaveLength(1)
  })

  it('follows a tilted region with a tilted box', () => {
    const m = map(100, 100, [])
    // A band along the diagonal y = x / 2 + 20, 6 pixels thick.
    for (let x = 10; x < 90; x++)
      for (let t = 0; t < 6; t++) m.data[(Math.round(x / 2) + 20 + t) * 100 + x] = 0.9
    const [box] = extractTextBoxes(m)
    const [tl, tr] = box!.quad
    const angle = (Math.atan2(tr[1] - tl[1], tr[0] - tl[0]) * 180) / Math.PI
    expect(angle).toBeCloseTo((Math.atan(0.5) * 180) / Math.PI, 0)
  })

  it('ignores the padded part of a static-shape map', () => {
    // Text only in the padding (x >= 50) of a 64-wide map whose image covers 50 columns.
    const m = map(64, 32, [[52, 5, 62, 20, 0.9]])
    expect(extractTextBoxes({ ...m, width: 50 })).toEqual([])
  })
})
