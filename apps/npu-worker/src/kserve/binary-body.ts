import { INFERENCE_HEADER_CONTENT_LENGTH } from '@npu-fleet/protocol'
import { ErrBadInferRequest, ErrMalformedBody } from '../errors.js'

/** An infer request body: its JSON part and, with the binary tensor extension, the bytes after it. */
export interface InferBody {
  json: unknown
  /** The tensor bytes after the JSON header, in input order; null for a plain JSON request. */
  binary: Buffer | null
  /** Set when the body came with a media type the route does not take (answered 415 by the handler). */
  unsupportedType?: string
}

/** Parses a raw request body that may use the KServe binary tensor extension. */
export function parseInferBody(
  raw: Buffer,
  headerValue: string | string[] | undefined,
  parseJson: (text: string) => unknown,
): InferBody {
  if (headerValue === undefined) return { json: parseJson(raw.toString('utf8')), binary: null }
  const text = Array.isArray(headerValue) ? '' : headerValue.trim()
  const length = /^[0-9]{1,12}$/.test(text) ? Number(text) : Number.NaN
  if (!Number.isSafeInteger(length) || length <= 0 || length > raw.length) {
    throw new ErrBadInferRequest(
      `${INFERENCE_HEADER_CONTENT_LENGTH}: expected the JSON part's length, 1 to ${raw.length} bytes, got ${JSON.stringify(headerValue)}`,
    )
  }
  let json: unknown
  try {
    json = parseJson(raw.subarray(0, length).toString('utf8'))
  } catch (error) {
    throw new ErrMalformedBody(
      `the first ${length} bytes (${INFERENCE_HEADER_CONTENT_LENGTH}) are not JSON: ${(error as Error).message}`,
    )
  }
  return { json, binary: raw.subarray(length) }
}

/**
 * Frames a response for the binary extension: the JSON header, then each output's bytes in order.
 * Returns the body and the value of the `Inference-Header-Content-Length` header.
 */
export function frameBinaryResponse(
  json: unknown,
  chunks: readonly Uint8Array[],
): { body: Buffer; headerLength: number } {
  const header = Buffer.from(JSON.stringify(json), 'utf8')
  return { body: Buffer.concat([header, ...chunks]), headerLength: header.length }
}
