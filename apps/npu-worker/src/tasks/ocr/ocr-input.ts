import type { OcrInput } from '@npu-fleet/protocol'
import { ErrBadImage, ErrBadTaskInput, ErrPayloadTooLarge } from '../../errors.js'

/**
 * What the OCR pipeline runs on: the JSON form (`image` as base64, validated by `OcrInputSchema`) or the
 * raw-body form, whose bytes are kept as they came (no base64 round trip).
 */
export type OcrTaskInput = Omit<OcrInput, 'image'> & { image: OcrInput['image'] | Buffer }

/** Media types accepted as a raw request body; anything else an `image/*` client sends is not decodable here. */
export const OCR_RAW_CONTENT_TYPES = ['image/png', 'image/jpeg', 'image/webp'] as const

/** The raw-body form: the body is the image; `?use_angle_classifier=true|false|1|0` may turn the classifier on. */
export function rawOcrInput(body: Buffer, query: Record<string, string | undefined>): OcrTaskInput {
  const flag = query.use_angle_classifier
  if (flag === undefined) return { image: body }
  if (flag === 'true' || flag === '1') return { image: body, use_angle_classifier: true }
  if (flag === 'false' || flag === '0') return { image: body, use_angle_classifier: false }
  throw new ErrBadTaskInput(`use_angle_classifier: expected true, false, 1 or 0, got ${JSON.stringify(flag)}`)
}

const DATA_URL = /^data:([a-z0-9.+/-]*)((?:;[a-z0-9=.+-]*)*),/i

/**
 * The image bytes of either input form. Base64 (standard or URL-safe, optionally in a `data:` URL) is checked
 * strictly: Node's decoder silently skips characters it does not know, which would hand sharp a different,
 * corrupt image. The size limit is checked before decoding.
 */
export function imageBytes(input: OcrTaskInput, maxBytes: number): Buffer {
  if (Buffer.isBuffer(input.image)) return input.image
  let text = input.image
  const dataUrl = DATA_URL.exec(text.slice(0, 256))
  if (dataUrl) {
    if (!/;base64$/i.test(dataUrl[2] ?? ''))
      throw new ErrBadImage('image: a data: URL must be base64-encoded')
    text = text.slice(dataUrl[0].length)
  }
  // 4 characters carry 3 bytes; refuse before allocating a buffer for an oversized image.
  if (Math.floor((text.length * 3) / 4) - 2 > maxBytes) {
    throw new ErrPayloadTooLarge(`the image limit of ${maxBytes}`)
  }
  let bytes = Buffer.from(text, 'base64')
  if (bytes.length !== expectedLength(text)) {
    // Line-wrapped base64 (MIME style) is fine; any other stray character is not.
    const compact = text.replace(/\s+/g, '')
    bytes = Buffer.from(compact, 'base64')
    if (compact.length === text.length || bytes.length !== expectedLength(compact)) {
      throw new ErrBadImage('image is not valid base64')
    }
  }
  return bytes
}

/** Bytes that well-formed base64 of this length decodes to. */
function expectedLength(text: string): number {
  let end = text.length
  while (end > 0 && text.charCodeAt(end - 1) === 61 /* = */) end--
  if (text.length - end > 2 || end % 4 === 1) return -1
  return Math.floor((end * 3) / 4)
}
