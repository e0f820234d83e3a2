import type { Tensor } from '../../backends/tensor.js'
import type { RgbImage } from './image-decoder.js'
import { loadSharp } from './sharp-loader.js'

/** Where the image goes inside the detector's input. */
export interface DetectionLayout {
  /** Tensor width and height (multiples of 32). */
  inputWidth: number
  inputHeight: number
  /** The resized image in the top-left corner of the tensor; the rest is padding (static shapes only). */
  resizedWidth: number
  resizedHeight: number
}

/**
 * PP-OCR's `DetResizeForTest` (limit type `max`): shrink so the longer side is at most `maxSide`, then round
 * each side to a multiple of 32 (at least 32). With a static model input (`fixed`, e.g. the NPU's 640x640)
 * the image is scaled to fit inside it, aspect kept, and the rest padded.
 */
export function planDetectionLayout(
  width: number,
  height: number,
  maxSide: number,
  fixed?: { width: number; height: number },
): DetectionLayout {
  if (fixed) {
    const scale = Math.min(fixed.width / width, fixed.height / height, 1)
    return {
      inputWidth: fixed.width,
      inputHeight: fixed.height,
      resizedWidth: Math.max(1, Math.round(width * scale)),
      resizedHeight: Math.max(1, Math.round(height * scale)),
    }
  }
  const ratio = Math.max(width, height) > maxSide ? maxSide / Math.max(width, height) : 1
  const w = Math.max(32, Math.round((width * ratio) / 32) * 32)
  const h = Math.max(32, Math.round((height * ratio) / 32) * 32)
  return { inputWidth: w, inputHeight: h, resizedWidth: w, resizedHeight: h }
}

// ImageNet mean and std, per channel in the BGR order PP-OCR was trained on (it reads images with OpenCV).
const MEAN_BGR = [0.485, 0.456, 0.406] as const
const STD_BGR = [0.229, 0.224, 0.225] as const

/**
 * The detector input `[1, 3, H, W]`: the image resized with sharp (off the event loop), channels in BGR
 * order, `(x / 255 - mean) / std`; padding is 0 (the mean colour, where DB finds no text).
 */
export async function detectionTensor(image: RgbImage, layout: DetectionLayout): Promise<Tensor> {
  const resized =
    layout.resizedWidth === image.width && layout.resizedHeight === image.height
      ? image.data
      : await (await loadSharp())(image.data, {
          raw: { width: image.width, height: image.height, channels: 3 },
        })
          .resize(layout.resizedWidth, layout.resizedHeight, { fit: 'fill', kernel: 'linear' })
          .raw()
          .toBuffer()
  const { inputWidth: W, inputHeight: H, resizedWidth: rw, resizedHeight: rh } = layout
  const plane = W * H
  const data = new Float32Array(3 * plane)
  // One lookup table per channel: 256 entries instead of a divide per sample.
  const lut = [0, 1, 2].map((c) => {
    const table = new Float32Array(256)
    for (let v = 0; v < 256; v++) table[v] = (v / 255 - MEAN_BGR[c]!) / STD_BGR[c]!
    return table
  }) as [Float32Array, Float32Array, Float32Array]
  const [lutB, lutG, lutR] = lut
  for (let y = 0; y < rh; y++) {
    let src = y * rw * 3
    let dst = y * W
    for (let x = 0; x < rw; x++, src += 3, dst++) {
      data[dst] = lutB[resized[src + 2]!]!
      data[plane + dst] = lutG[resized[src + 1]!]!
      data[2 * plane + dst] = lutR[resized[src]!]!
    }
  }
  return { datatype: 'FP32', shape: [1, 3, H, W], data }
}
