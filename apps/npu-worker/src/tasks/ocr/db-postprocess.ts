import { convexHull, growRect, minAreaRect, type RotatedRect } from './min-area-rect.js'
import { distance, orderCorners, type Point, type Quad } from './quad.js'

/** DB (differentiable binarisation) post-processing parameters; defaults are PP-OCR's. */
export interface DbParameters {
  /** Probability above which a map pixel is text. */
  threshold: number
  /** Minimum mean probability inside a box to keep it. */
  boxThreshold: number
  /** How far a box grows: `area * ratio / perimeter` on every side (DB shrinks text regions in training). */
  unclipRatio: number
  /** Boxes whose short side (in map pixels) is below this are dropped. */
  minSize: number
  /** At most this many regions are considered. */
  maxCandidates: number
}

/** PP-OCR's defaults (`DBPostProcess`: thresh 0.3, box_thresh 0.6, unclip_ratio 1.5, min_size 3, 1000). */
export const DEFAULT_DB_PARAMETERS: DbParameters = {
  threshold: 0.3,
  boxThreshold: 0.6,
  unclipRatio: 1.5,
  minSize: 3,
  maxCandidates: 1000,
}

/** The probability map the detector returned, and which part of it covers the image. */
export interface ProbabilityMap {
  data: Float32Array
  /** Row length of `data`. */
  stride: number
  /** The part of the map covering the image (the rest is padding for a static input shape). */
  width: number
  height: number
  /** Original image size the map's `width` x `height` corresponds to. */
  imageWidth: number
  imageHeight: number
}

/** A detected text region in original image pixels. */
export interface TextBox {
  quad: Quad
  /** Mean text probability inside the (unexpanded) box. */
  score: number
}

/**
 * Turns a DB probability map into text boxes: threshold, 8-connected components (the outer contours OpenCV's
 * `findContours` would give), minimum-area rectangle, mean-probability score, unclip, minimum size, then
 * scaling to the original image. Typed arrays throughout: this runs on the event loop.
 */
export function extractTextBoxes(
  map: ProbabilityMap,
  params: DbParameters = DEFAULT_DB_PARAMETERS,
): TextBox[] {
  const { data, stride, width, height } = map
  const size = width * height
  // 0 = background, 1 = text not yet visited, 2 = visited.
  const state = new Uint8Array(size)
  for (let y = 0; y < height; y++) {
    const row = y * stride
    const out = y * width
    for (let x = 0; x < width; x++) if (data[row + x]! > params.threshold) state[out + x] = 1
  }
  const stack = new Int32Array(size)
  const rowMin = new Int32Array(height)
  const rowMax = new Int32Array(height)
  const boxes: TextBox[] = []
  let candidates = 0
  for (let start = 0; start < size && candidates < params.maxCandidates; start++) {
    if (state[start] !== 1) continue
    candidates++
    const region = floodFill(state, width, height, start, stack, rowMin, rowMax)
    const box = boxOfRegion(map, region, rowMin, rowMax, params)
    if (box) boxes.push(box)
  }
  return boxes
}

/** Vertical extent of one connected region; per-row x extremes are left in `rowMin`/`rowMax`. */
interface Region {
  top: number
  bottom: number
}

function floodFill(
  state: Uint8Array,
  width: number,
  height: number,
  start: number,
  stack: Int32Array,
  rowMin: Int32Array,
  rowMax: Int32Array,
): Region {
  const startY = Math.floor(start / width)
  let top = startY
  let bottom = startY
  rowMin[startY] = width
  rowMax[startY] = -1
  let sp = 0
  stack[sp++] = start
  state[start] = 2
  while (sp > 0) {
    const p = stack[--sp]!
    const y = Math.floor(p / width)
    const x = p - y * width
    if (y < top) {
      for (let r = y; r < top; r++) {
        rowMin[r] = width
        rowMax[r] = -1
      }
      top = y
    } else if (y > bottom) {
      for (let r = bottom + 1; r <= y; r++) {
        rowMin[r] = width
        rowMax[r] = -1
      }
      bottom = y
    }
    if (x < rowMin[y]!) rowMin[y] = x
    if (x > rowMax[y]!) rowMax[y] = x
    const x0 = x > 0 ? x - 1 : x
    const x1 = x < width - 1 ? x + 1 : x
    const y0 = y > 0 ? y - 1 : y
    const y1 = y < height - 1 ? y + 1 : y
    for (let ny = y0; ny <= y1; ny++) {
      const base = ny * width
      for (let nx = x0; nx <= x1; nx++) {
        const q = base + nx
        if (state[q] === 1) {
          state[q] = 2
          stack[sp++] = q
        }
      }
    }
  }
  return { top, bottom }
}

function boxOfRegion(
  map: ProbabilityMap,
  region: Region,
  rowMin: Int32Array,
  rowMax: Int32Array,
  params: DbParameters,
): TextBox | null {
  // The hull of a pixel region is the hull of each row's two extreme pixel centres.
  const xy: number[] = []
  for (let y = region.top; y <= region.bottom; y++) {
    if (rowMax[y]! < 0) continue
    xy.push(rowMin[y]!, y)
    if (rowMax[y] !== rowMin[y]) xy.push(rowMax[y]!, y)
  }
  const rect = minAreaRect(convexHull(xy, xy.length / 2))
  if (Math.min(rect.width, rect.height) < params.minSize) return null
  const score = meanInside(map, rect)
  if (score < params.boxThreshold) return null
  const perimeter = 2 * (rect.width + rect.height)
  const grown = growRect(rect, (rect.width * rect.height * params.unclipRatio) / perimeter)
  if (Math.min(grown.width, grown.height) < params.minSize + 2) return null
  const sx = map.imageWidth / map.width
  const sy = map.imageHeight / map.height
  const corners = grown.corners.map(
    ([x, y]): Point => [clamp(x * sx, 0, map.imageWidth), clamp(y * sy, 0, map.imageHeight)],
  )
  const quad = orderCorners(corners)
  // PP-OCR's filter_tag_det_res: drop boxes that end up 3 pixels or less on a side in the image.
  if (distance(quad[0], quad[1]) <= 3 || distance(quad[0], quad[3]) <= 3) return null
  return { quad, score }
}

/** Mean probability over the map pixels whose centres lie inside the rectangle (PP-OCR's "fast" box score). */
function meanInside(map: ProbabilityMap, rect: RotatedRect): number {
  const [c0, c1, c2, c3] = rect.corners
  const xs = [c0[0], c1[0], c2[0], c3[0]]
  const ys = [c0[1], c1[1], c2[1], c3[1]]
  const xMin = clamp(Math.floor(Math.min(...xs)), 0, map.width - 1)
  const xMax = clamp(Math.ceil(Math.max(...xs)), 0, map.width - 1)
  const yMin = clamp(Math.floor(Math.min(...ys)), 0, map.height - 1)
  const yMax = clamp(Math.ceil(Math.max(...ys)), 0, map.height - 1)
  // Inside test: projections on the rectangle's two axes, with half a pixel of slack so boundary pixels count
  // (as cv2.fillPoly includes them).
  const ux = (c1[0] - c0[0]) / rect.width
  const uy = (c1[1] - c0[1]) / rect.width
  const vx = (c3[0] - c0[0]) / rect.height
  const vy = (c3[1] - c0[1]) / rect.height
  const slack = 0.5
  let sum = 0
  let count = 0
  for (let y = yMin; y <= yMax; y++) {
    const row = y * map.stride
    const dy = y - c0[1]
    for (let x = xMin; x <= xMax; x++) {
      const dx = x - c0[0]
      const pu = dx * ux + dy * uy
      const pv = dx * vx + dy * vy
      if (pu >= -slack && pu <= rect.width + slack && pv >= -slack && pv <= rect.height + slack) {
        sum += map.data[row + x]!
        count++
      }
    }
  }
  return count === 0 ? 0 : sum / count
}

function clamp(value: number, min: number, max: number): number {
  return value < min ? min : Math.min(value, max)
}
