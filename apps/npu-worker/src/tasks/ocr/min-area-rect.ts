import type { Point } from './quad.js'

/** A rotated rectangle: its four corners (in hull order) and its side lengths. */
export interface RotatedRect {
  corners: [Point, Point, Point, Point]
  /** Length of the side along the first corner pair. */
  width: number
  /** Length of the other side. */
  height: number
}

/**
 * Convex hull of points given as flat `[x0, y0, x1, y1, ...]` (Andrew's monotone chain), counter-clockwise
 * in a y-down image, without collinear points.
 */
export function convexHull(xy: ArrayLike<number>, count: number): Point[] {
  const idx = Array.from({ length: count }, (_, i) => i)
  idx.sort((a, b) => xy[2 * a]! - xy[2 * b]! || xy[2 * a + 1]! - xy[2 * b + 1]!)
  const pts: Point[] = idx.map((i) => [xy[2 * i]!, xy[2 * i + 1]!])
  if (pts.length < 3) return pts
  const cross = (o: Point, a: Point, b: Point) =>
    (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])
  const lower: Point[] = []
  for (const p of pts) {
    while (lower.length >= 2 && cross(lower[lower.length - 2]!, lower[lower.length - 1]!, p) <= 0) lower.pop()
    lower.push(p)
  }
  const upper: Point[] = []
  for (let i = pts.length - 1; i >= 0; i--) {
    const p = pts[i]!
    while (upper.length >= 2 && cross(upper[upper.length - 2]!, upper[upper.length - 1]!, p) <= 0) upper.pop()
    upper.push(p)
  }
  lower.pop()
  upper.pop()
  return lower.concat(upper)
}

/**
 * Minimum-area enclosing rectangle of a convex hull (what OpenCV's `minAreaRect` computes): one side of the
 * optimal rectangle lies on a hull edge, so every edge direction is tried. Hulls of text regions are small,
 * so the quadratic scan is cheaper than rotating calipers' bookkeeping.
 */
export function minAreaRect(hull: readonly Point[]): RotatedRect {
  if (hull.length === 0) throw new Error('minAreaRect of no points')
  if (hull.length === 1) {
    const p = hull[0]!
    return { corners: [p, p, p, p], width: 0, height: 0 }
  }
  let best: RotatedRect | null = null
  let bestArea = Number.POSITIVE_INFINITY
  for (let i = 0; i < hull.length; i++) {
    const a = hull[i]!
    const b = hull[(i + 1) % hull.length]!
    const len = Math.hypot(b[0] - a[0], b[1] - a[1])
    if (len === 0) continue
    // Unit vectors along the edge (u) and across it (v).
    const ux = (b[0] - a[0]) / len
    const uy = (b[1] - a[1]) / len
    const vx = -uy
    const vy = ux
    let minU = Number.POSITIVE_INFINITY
    let maxU = Number.NEGATIVE_INFINITY
    let minV = Number.POSITIVE_INFINITY
    let maxV = Number.NEGATIVE_INFINITY
    for (const p of hull) {
      const pu = p[0] * ux + p[1] * uy
      const pv = p[0] * vx + p[1] * vy
      if (pu < minU) minU = pu
      if (pu > maxU) maxU = pu
      if (pv < minV) minV = pv
      if (pv > maxV) maxV = pv
    }
    const width = maxU - minU
    const height = maxV - minV
    const area = width * height
    if (area < bestArea - 1e-9) {
      bestArea = area
      const at = (pu: number, pv: number): Point => [pu * ux + pv * vx, pu * uy + pv * vy]
      best = { corners: [at(minU, minV), at(maxU, minV), at(maxU, maxV), at(minU, maxV)], width, height }
    }
  }
  return best ?? { corners: [hull[0]!, hull[0]!, hull[0]!, hull[0]!], width: 0, height: 0 }
}

/**
 * Grows a rectangle by `delta` on every side, keeping its centre and orientation. This is exactly the
 * minimum-area rectangle of a round-joined polygon offset by `delta` (what PP-OCR's unclip does with pyclipper
 * and then measures again), so no polygon clipping library is needed.
 */
export function growRect(rect: RotatedRect, delta: number): RotatedRect {
  const [c0, c1, , c3] = rect.corners
  const ux = rect.width > 0 ? (c1[0] - c0[0]) / rect.width : 1
  const uy = rect.width > 0 ? (c1[1] - c0[1]) / rect.width : 0
  // The second side is perpendicular to the first; derive it from u when the rectangle is degenerate.
  const vx = rect.height > 0 ? (c3[0] - c0[0]) / rect.height : -uy
  const vy = rect.height > 0 ? (c3[1] - c0[1]) / rect.height : ux
  const width = rect.width + 2 * delta
  const height = rect.height + 2 * delta
  const ox = c0[0] - delta * ux - delta * vx
  const oy = c0[1] - delta * uy - delta * vy
  return {
    corners: [
      [ox, oy],
      [ox + width * ux, oy + width * uy],
      [ox + width * ux + height * vx, oy + width * uy + height * vy],
      [ox + height * vx, oy + height * vy],
    ],
    width,
    height,
  }
}
