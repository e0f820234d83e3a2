import type { Tensor } from '../../backends/tensor.js'
import { LINE_HEIGHT, type LineCrop } from './text-line-crop.js'

/**
 * Stacks line crops into `[N, 3, 48, width]` as PP-OCR's recognition and angle classifier take them: BGR,
 * `(x / 255 - 0.5) / 0.5`, each crop left-aligned and zero-padded on the right. Crops wider than `width`
 * are a caller error (crop them to the model's width first).
 */
export function lineBatchTensor(crops: readonly LineCrop[], width: number): Tensor {
  const plane = LINE_HEIGHT * width
  const data = new Float32Array(crops.length * 3 * plane)
  const lut = new Float32Array(256)
  for (let v = 0; v < 256; v++) lut[v] = v / 127.5 - 1
  crops.forEach((crop, n) => {
    if (crop.width > width) throw new Error(`line crop of width ${crop.width} does not fit ${width}`)
    const base = n * 3 * plane
    for (let y = 0; y < LINE_HEIGHT; y++) {
      let src = y * crop.width * 3
      let dst = base + y * width
      for (let x = 0; x < crop.width; x++, src += 3, dst++) {
        data[dst] = lut[crop.data[src + 2]!]!
        data[dst + plane] = lut[crop.data[src + 1]!]!
        data[dst + 2 * plane] = lut[crop.data[src]!]!
      }
    }
  })
  return { datatype: 'FP32', shape: [crops.length, 3, LINE_HEIGHT, width], data }
}
