import { describe, expect, it } from 'vitest'
import type { RgbImage } from '../../../src/tasks/ocr/image-decoder.js'
import { lineBatchTensor } from '../../../src/tasks/ocr/line-batch-tensor.js'
import type { Quad } from '../../../src/tasks/ocr/quad.js'
import { cropTextLine, LINE_HEIGHT, rotateCrop180 } from '../../../src/tasks/ocr/text-line-crop.js'

/** A 200 x 100 image: left half red, right half blue, a green band in rows 40..59. */
function testImage(): RgbImage {
  const width = 200
  const height = 100
  const data = new Uint8Array(width * height * 3)
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 3
      if (y >= 40 && y < 60) data[o + 1] = 255
      else if (x < 100) data[o] = 255
      else data[o + 2] = 255
    }
  }
  return { data, width, height }
}

const pixel = (crop: { data: Uint8Array; width: number }, x: number, y: number) =>
  Array.from(crop.data.subarray((y * crop.width + x) * 3, (y * crop.width + x) * 3 + 3))

describe('cropTextLine', () => {
  const image = testImage()
  const band: Quad = [
    [20, 40],
    [180, 40],
    [180, 60],
    [20, 60],
  ]

  it('maps the quad onto a 48-pixel-high strip that keeps the aspect ratio', () => {
    const crop = cropTextLine(image, band, { maxWidth: 1000, verticalMargin: 0 })
    expect(crop.height).toBe(LINE_HEIGHT)
    expect(crop.width).toBe(Math.ceil((48 * 160) / 20))
    expect(pixel(crop, crop.width >> 1, 24)).toEqual([0, 255, 0])
  })

  it('adds the vertical margin above and below', () => {
    const crop = cropTextLine(image, band, { maxWidth: 1000, verticalMargin: 0.5 })
    // The strip now covers rows 30..70: the top quarter is red (left side), the middle green.
    expect(pixel(crop, 5, 3)).toEqual([255, 0, 0])
    expect(pixel(crop, crop.width - 5, 44)).toEqual([0, 0, 255])
    expect(pixel(crop, crop.width >> 1, 24)).toEqual([0, 255, 0])
    expect(crop.width).toBe(Math.ceil((48 * 160) / 40))
  })

  it('squeezes lines longer than the maximum width', () => {
    expect(cropTextLine(image, band, { maxWidth: 100, verticalMargin: 0 }).width).toBe(100)
  })

  it('reads a tall quad turned 90 degrees counter-clockwise', () => {
    // A column x 90..110, y 0..100: red on its left, blue on its right. Turned CCW, right (blue) is on top.
    const column: Quad = [
      [90, 0],
      [110, 0],
      [110, 100],
      [90, 100],
    ]
    const crop = cropTextLine(image, column, { maxWidth: 1000, verticalMargin: 0 })
    expect(crop.width).toBe(Math.ceil((48 * 100) / 20))
    expect(pixel(crop, 10, 2)).toEqual([0, 0, 255])
    expect(pixel(crop, 10, 45)).toEqual([255, 0, 0])
  })

  it('turns a crop 180 degrees', () => {
    const crop = cropTextLine(
      image,
      [
        [0, 0],
        [200, 0],
        [200, 20],
        [0, 20],
      ],
      { maxWidth: 1000, verticalMargin: 0 },
    )
    const turned = rotateCrop180(crop)
    expect(pixel(crop, 2, 2)).toEqual([255, 0, 0])
    expect(pixel(turned, 2, 2)).toEqual([0, 0, 255])
    expect(pixel(turned, turned.width - 3, turned.height - 3)).toEqual([255, 0, 0])
  })
})

describe('lineBatchTensor', () => {
  it('stacks crops as BGR in [-1, 1], zero-padded on the right', () => {
    const crop = {
      data: new Uint8Array(4 * 48 * 3).fill(0).map((_, i) => (i % 3 === 0 ? 255 : 0)),
      width: 4,
      height: 48,
    }
    const tensor = lineBatchTensor([crop, crop], 6)
    expect(tensor.shape).toEqual([2, 3, 48, 6])
    const plane = 48 * 6
    const data = tensor.data as Float32Array
    expect(data[0]).toBe(-1) // B
    expect(data[plane]).toBe(-1) // G
    expect(data[2 * plane]).toBe(1) // R
    expect(data[5]).toBe(0) // padding
    expect(() => lineBatchTensor([crop], 3)).toThrow(/does not fit/)
  })
})
