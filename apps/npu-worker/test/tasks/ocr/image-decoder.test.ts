import sharp from 'sharp'
import { describe, expect, it } from 'vitest'
import { decodeImage, sniffImageFormat } from '../../../src/tasks/ocr/image-decoder.js'

const limits = { maxPixels: 1_000_000, maxBytes: 1_000_000 }
const grey = () => sharp({ create: { width: 40, height: 10, channels: 3, background: '#808080' } })

describe('decodeImage', () => {
  it('turns 16-bit, grey-with-alpha and CMYK images into 8-bit sRGB', async () => {
    const sources = {
      png16: await grey().toColourspace('rgb16').png().toBuffer(),
      greyAlpha: await sharp({
        create: { width: 40, height: 10, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } },
      })
        .toColourspace('b-w')
        .png()
        .toBuffer(),
      cmykJpeg: await grey().toColourspace('cmyk').jpeg().toBuffer(),
    }
    expect((await sharp(sources.png16).metadata()).depth).toBe('ushort')
    expect((await sharp(sources.greyAlpha).metadata()).channels).toBe(2)
    expect((await sharp(sources.cmykJpeg).metadata()).space).toBe('cmyk')
    for (const [name, bytes] of Object.entries(sources)) {
      const image = await decodeImage(bytes, limits)
      expect({ name, width: image.width, height: image.height, bytes: image.data.length }).toEqual({
        name,
        width: 40,
        height: 10,
        bytes: 1200,
      })
    }
    // Transparent pixels are flattened onto white, not black.
    const flattened = await decodeImage(sources.greyAlpha, limits)
    expect(Array.from(flattened.data.subarray(0, 3))).toEqual([255, 255, 255])
  })

  it('identifies only PNG, JPEG and WebP by their magic bytes', async () => {
    expect(sniffImageFormat(await grey().png().toBuffer())).toBe('png')
    expect(sniffImageFormat(await grey().jpeg().toBuffer())).toBe('jpeg')
    expect(sniffImageFormat(await grey().webp().toBuffer())).toBe('webp')
    expect(sniffImageFormat(await grey().tiff().toBuffer())).toBeNull()
    expect(sniffImageFormat(await grey().gif().toBuffer())).toBeNull()
    expect(sniffImageFormat(Buffer.from('RIFF0000WAVE'))).toBeNull()
  })
})
