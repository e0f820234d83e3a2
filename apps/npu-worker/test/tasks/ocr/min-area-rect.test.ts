import { describe, expect, it } from 'vitest'
import { convexHull, growRect, minAreaRect } from '../../../src/tasks/ocr/min-area-rect.js'

const sortedCorners = (corners: [number, number][]) =>
  corners
    .map(([x, y]) => [Math.round(x * 1e6) / 1e6 + 0, Math.round(y * 1e6) / 1e6 + 0])
    .sort((a, b) => a[0]! - b[0]! || a[1]! - b[1]!)

describe('convexHull', () => {
  it('keeps only the extreme points of a filled grid', () => {
    const xy: number[] = []
    for (let y = 0; y <= 4; y++) for (let x = 0; x <= 6; x++) xy.push(x, y)
    expect(sortedCorners(convexHull(xy, xy.length / 2))).toEqual([
      [0, 0],
      [0, 4],
      [6, 0],
      [6, 4],
    ])
  })
})

describe('minAreaRect', () => {
  it('finds an axis-aligned rectangle with its side lengths', () => {
    const rect = minAreaRect(convexHull([0, 0, 10, 0, 10, 4, 0, 4, 5, 2], 5))
    expect([rect.width, rect.height].sort((a, b) => a - b)).toEqual([4, 10])
    expect(sortedCorners(rect.corners)).toEqual([
      [0, 0],
      [0, 4],
      [10, 0],
      [10, 4],
    ])
  })

  it('finds a rotated rectangle rather than the larger upright box around it', () => {
    // A 45-degree square of side sqrt(2)*4: its upright bounding box would have twice the area.
    const rect = minAreaRect(convexHull([4, 0, 8, 4, 4, 8, 0, 4], 4))
    expect(rect.width * rect.height).toBeCloseTo(32, 6)
    expect(sortedCorners(rect.corners)).toEqual([
      [0, 4],
      [4, 0],
      [4, 8],
      [8, 4],
    ])
  })

  it('handles degenerate regions: one point, a line', () => {
    expect(minAreaRect([[3, 3]])).toMatchObject({ width: 0, height: 0 })
    const line = minAreaRect(convexHull([0, 0, 5, 0, 9, 0], 3))
    expect(Math.max(line.width, line.height)).toBeCloseTo(9)
    expect(Math.min(line.width, line.height)).toBeCloseTo(0)
  })
})

describe('growRect', () => {
  it('grows every side by the distance, keeping centre and orientation', () => {
    const rect = minAreaRect(convexHull([4, 0, 8, 4, 4, 8, 0, 4], 4))
    const grown = growRect(rect, Math.SQRT2)
    expect(grown.width).toBeCloseTo(rect.width + 2 * Math.SQRT2)
    expect(grown.height).toBeCloseTo(rect.height + 2 * Math.SQRT2)
    expect(sortedCorners(grown.corners)).toEqual([
      [-2, 4],
      [4, -2],
      [4, 10],
      [10, 4],
    ])
  })
})
