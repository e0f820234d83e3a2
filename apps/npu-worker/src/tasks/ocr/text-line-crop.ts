import type { RgbImage } from './image-decoder.js'
import { distance, type Point, type Quad } from './quad.js'

/** Height of every line crop: the recognition and angle-classifier input height. */
export const LINE_HEIGHT = 48

/** A text line cut out of the page, upright, `LINE_HEIGHT` pixels high, RGB. */
export interface LineCrop {
  data: Uint8Array
  width: number
  height: number
}

/**
 * Cuts the quad out of the image straight into a `LINE_HEIGHT`-high strip (PP-OCR's `get_rotate_crop_image`
 * followed by its resize, in one pass): the quad's corners map to the strip's corners (an affine map, exact
 * for the parallelograms DB produces), bilinear samples with edge replication, averaged over a grid when the
 * strip is smaller than the source so thin strokes are not lost. A quad at least 1.5 times taller than wide
 * is read turned 90 degrees counter-clockwise, as PP-OCR does. `verticalMargin` (a fraction of the line's
 * height) is added above and below: PP-OCRv4 recognition drops the spaces between words of tight crops
 * (measured: 0.3 took the accuracy set from 92% to 99% character accuracy). The width keeps the aspect
 * ratio, at most `maxWidth` (longer lines are squeezed).
 */
export function cropTextLine(
  image: RgbImage,
  quad: Quad,
  options: { maxWidth: number; verticalMargin: number },
): LineCrop {
  const [tl, tr, br, bl] = quad
  let cropW = Math.max(distance(tl, tr), distance(bl, br))
  let cropH = Math.max(distance(tl, bl), distance(tr, br))
  // Origin and the two axes of the source region, as vectors over the whole crop.
  let origin: Point = tl
  let across: Point = [tr[0] - tl[0], tr[1] - tl[1]]
  let down: Point = [bl[0] - tl[0], bl[1] - tl[1]]
  if (cropH >= 1.5 * cropW) {
    origin = tr
    across = [br[0] - tr[0], br[1] - tr[1]]
    down = [tl[0] - tr[0], tl[1] - tr[1]]
    ;[cropW, cropH] = [cropH, cropW]
  }
  const margin = options.verticalMargin
  origin = [origin[0] - margin * down[0], origin[1] - margin * down[1]]
  down = [down[0] * (1 + 2 * margin), down[1] * (1 + 2 * margin)]
  cropH *= 1 + 2 * margin
  const height = LINE_HEIGHT
  const width = Math.max(1, Math.min(options.maxWidth, Math.ceil((height * cropW) / Math.max(cropH, 1))))
  const out = new Uint8Array(width * height * 3)
  // Supersampling grid: one sample per source pixel each way, up to 4x4.
  const gx = Math.min(4, Math.max(1, Math.ceil(cropW / width)))
  const gy = Math.min(4, Math.max(1, Math.ceil(cropH / height)))
  const samples = gx * gy
  const src = image.data
  const maxX = image.width - 1
  const maxY = image.height - 1
  const rowStride = image.width * 3
  let o = 0
  for (let oy = 0; oy < height; oy++) {
    for (let ox = 0; ox < width; ox++, o += 3) {
      let r = 0
      let g = 0
      let b = 0
      for (let sy = 0; sy < gy; sy++) {
        const t = (oy + (sy + 0.5) / gy) / height
        for (let sx = 0; sx < gx; sx++) {
          const s = (ox + (sx + 0.5) / gx) / width
          let x = origin[0] + s * across[0] + t * down[0]
          let y = origin[1] + s * across[1] + t * down[1]
          x = x < 0 ? 0 : Math.min(x, maxX)
          y = y < 0 ? 0 : Math.min(y, maxY)
          const x0 = Math.floor(x)
          const y0 = Math.floor(y)
          const fx = x - x0
          const fy = y - y0
          const x1 = x0 < maxX ? x0 + 1 : x0
          const y1 = y0 < maxY ? y0 + 1 : y0
          const p00 = y0 * rowStride + x0 * 3
          const p01 = y0 * rowStride + x1 * 3
          const p10 = y1 * rowStride + x0 * 3
          const p11 = y1 * rowStride + x1 * 3
          const w00 = (1 - fx) * (1 - fy)
          const w01 = fx * (1 - fy)
          const w10 = (1 - fx) * fy
          const w11 = fx * fy
          r += src[p00]! * w00 + src[p01]! * w01 + src[p10]! * w10 + src[p11]! * w11
          g += src[p00 + 1]! * w00 + src[p01 + 1]! * w01 + src[p10 + 1]! * w10 + src[p11 + 1]! * w11
          b += src[p00 + 2]! * w00 + src[p01 + 2]! * w01 + src[p10 + 2]! * w10 + src[p11 + 2]! * w11
        }
      }
      out[o] = r / samples + 0.5
      out[o + 1] = g / samples + 0.5
      out[o + 2] = b / samples + 0.5
    }
  }
  return { data: out, width, height }
}

/** The crop turned 180 degrees (a line the angle classifier found upside down). */
export function rotateCrop180(crop: LineCrop): LineCrop {
  const pixels = crop.width * crop.height
  const out = new Uint8Array(crop.data.length)
  for (let i = 0; i < pixels; i++) {
    const j = (pixels - 1 - i) * 3
    out[i * 3] = crop.data[j]!
    out[i * 3 + 1] = crop.data[j + 1]!
    out[i * 3 + 2] = crop.data[j + 2]!
  }
  return { data: out, width: crop.width, height: crop.height }
}
