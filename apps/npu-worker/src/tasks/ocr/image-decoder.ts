import { ErrBadImage, ErrImageTooLarge, ErrPayloadTooLarge } from '../../errors.js'
import { loadSharp } from './sharp-loader.js'

/** A decoded image: 8-bit RGB, row-major, 3 bytes per pixel. */
export interface RgbImage {
  data: Uint8Array
  width: number
  height: number
}

/** Limits applied before any pixel is decoded. */
export interface ImageLimits {
  /** Largest width x height accepted (after EXIF rotation the count is the same). */
  maxPixels: number
  /** Largest encoded image accepted, in bytes. */
  maxBytes: number
}

/** Encoded formats the OCR task accepts, by their magic bytes. */
export type ImageFormat = 'png' | 'jpeg' | 'webp'

/** Identifies PNG, JPEG or WebP from the first bytes; null for anything else (sharp reads many more). */
export function sniffImageFormat(bytes: Uint8Array): ImageFormat | null {
  if (bytes.length >= 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) {
    return 'png'
  }
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg'
  if (
    bytes.length >= 12 &&
    String.fromCharCode(bytes[0]!, bytes[1]!, bytes[2]!, bytes[3]!) === 'RIFF' &&
    String.fromCharCode(bytes[8]!, bytes[9]!, bytes[10]!, bytes[11]!) === 'WEBP'
  ) {
    return 'webp'
  }
  return null
}

/**
 * Decodes a PNG, JPEG or WebP into RGB with sharp (in libvips' thread pool, off the event loop): EXIF
 * orientation applied, transparency flattened onto white, greyscale and CMYK converted to sRGB.
 * Throws 413 NPU_ERR_PAYLOAD_TOO_LARGE over `maxBytes`, 413 NPU_ERR_IMAGE_TOO_LARGE over `maxPixels`
 * (checked from the header before decoding), 400 NPU_ERR_BAD_IMAGE for anything it cannot decode.
 */
export async function decodeImage(bytes: Buffer, limits: ImageLimits): Promise<RgbImage> {
  if (bytes.length === 0) throw new ErrBadImage('image is empty')
  if (bytes.length > limits.maxBytes) throw new ErrPayloadTooLarge(`the image limit of ${limits.maxBytes}`)
  // Only these three reach sharp: it would also parse SVG, TIFF, GIF, HEIF..., a wider attack surface than
  // the task needs.
  const format = sniffImageFormat(bytes)
  if (!format) throw new ErrBadImage('image is not PNG, JPEG or WebP')
  const options = { limitInputPixels: limits.maxPixels, failOn: 'error' } as const
  const sharp = await loadSharp()
  let width: number
  let height: number
  try {
    // The header alone (no pixels decoded), read without sharp's limit so the size can be named in the 413.
    const meta = await sharp(bytes, { ...options, limitInputPixels: false }).metadata()
    width = meta.width
    height = meta.height
  } catch (err) {
    throw decodeError(err, format, limits)
  }
  if (!(width > 0 && height > 0)) throw new ErrBadImage(`${format} header has no size`)
  if (width * height > limits.maxPixels) throw new ErrImageTooLarge(`${width}x${height}`, limits.maxPixels)
  try {
    const { data, info } = await sharp(bytes, options)
      .autoOrient()
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb')
      .raw()
      .toBuffer({ resolveWithObject: true })
    if (info.channels !== 3 || data.length !== info.width * info.height * 3) {
      throw new Error(`decoded to ${data.length} bytes of ${info.channels} channels, expected 8-bit RGB`)
    }
    return {
      data: new Uint8Array(data.buffer, data.byteOffset, data.length),
      width: info.width,
      height: info.height,
    }
  } catch (err) {
    throw decodeError(err, format, limits)
  }
}

function decodeError(err: unknown, format: ImageFormat, limits: ImageLimits): Error {
  const message = err instanceof Error ? err.message : String(err)
  // sharp's own pixel-limit check (a header that lies about its size still stops here).
  if (/pixel limit/i.test(message)) return new ErrImageTooLarge('(as decoded)', limits.maxPixels)
  return new ErrBadImage(`${format} data is corrupt (${firstLine(message)})`)
}

function firstLine(message: string): string {
  const line = message.split('\n', 1)[0] ?? ''
  return line.length > 200 ? `${line.slice(0, 200)}...` : line
}
