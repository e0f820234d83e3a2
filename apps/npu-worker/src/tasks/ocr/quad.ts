/** A point `[x, y]` in image pixels. */
export type Point = [number, number]

/** Four corners clockwise from top-left: `[topLeft, topRight, bottomRight, bottomLeft]`. */
export type Quad = [Point, Point, Point, Point]

/** Distance between two points. */
export function distance(a: Point, b: Point): number {
  return Math.hypot(a[0] - b[0], a[1] - b[1])
}

/**
 * Orders four corners as PP-OCR does (`get_mini_boxes`): of the two leftmost points the upper one is the
 * top-left, of the two rightmost the upper one is the top-right.
 */
export function orderCorners(points: readonly Point[]): Quad {
  const byX = [...points].sort((a, b) => a[0] - b[0] || a[1] - b[1])
  const [l1, l2, r1, r2] = byX as [Point, Point, Point, Point]
  const [topLeft, bottomLeft] = l1[1] <= l2[1] ? [l1, l2] : [l2, l1]
  const [topRight, bottomRight] = r1[1] <= r2[1] ? [r1, r2] : [r2, r1]
  return [topLeft, topRight, bottomRight, bottomLeft]
}
