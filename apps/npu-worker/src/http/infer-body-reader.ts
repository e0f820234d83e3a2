import type { Readable } from 'node:stream'
import { INFERENCE_HEADER_CONTENT_LENGTH } from '@npu-fleet/protocol'
import { ErrBadInferRequest, ErrMalformedBody, ErrPayloadTooLarge } from '../errors.js'
import type { InferBody } from '../kserve/infer-body.js'
import type { InputBufferPool } from '../kserve/input-buffer-pool.js'
import type { JsonCodecPool } from '../kserve/json-codec-pool.js'
import { parseJsonTensors } from '../kserve/json-tensor-parser.js'

/** JSON bodies at least this large are decoded on the JSON thread; smaller ones cost less inline. */
export const OFF_THREAD_JSON_BYTES = 64 * 1024

/** Parses a raw request body that may use the KServe binary tensor extension. */
export function parseInferBody(
  raw: Buffer,
  headerValue: string | string[] | undefined,
  parseJson: (text: string) => unknown,
): InferBody {
  if (headerValue === undefined) {
    // An empty body keeps Fastify's own answer; anything else is read with the tensors' numbers straight into
    // typed arrays (the same rules as Fastify's parser, json-tensor-parser.ts).
    if (raw.length === 0) return { kind: 'json', json: parseJson('') }
    try {
      return { kind: 'json', json: parseJsonTensors(raw) }
    } catch (error) {
      throw new ErrMalformedBody((error as Error).message)
    }
  }
  const length = headerLength(headerValue, raw.length)
  let json: unknown
  try {
    json = parseJson(raw.subarray(0, length).toString('utf8'))
  } catch (error) {
    throw new ErrMalformedBody(
      `the first ${length} bytes (${INFERENCE_HEADER_CONTENT_LENGTH}) are not JSON: ${(error as Error).message}`,
    )
  }
  // A view into the whole body's buffer: not owned, so the codec copies each tensor out.
  return { kind: 'binary', json, tensors: raw.subarray(length), owned: false }
}

/** Parses the `Inference-Header-Content-Length` value against the body length; 400 naming the header otherwise. */
function headerLength(headerValue: string | string[], bodyLength: number): number {
  const text = Array.isArray(headerValue) ? '' : headerValue.trim()
  const length = /^[0-9]{1,12}$/.test(text) ? Number(text) : Number.NaN
  if (!Number.isSafeInteger(length) || length <= 0 || length > bodyLength) {
    throw new ErrBadInferRequest(
      `${INFERENCE_HEADER_CONTENT_LENGTH}: expected the JSON part's length, 1 to ${bodyLength} bytes, got ${JSON.stringify(headerValue)}`,
    )
  }
  return length
}

/**
 * A buffer of its own for `length` body bytes, not zero-filled: every byte is written from the socket before
 * anything reads it (a body shorter than its Content-Length is refused), so zeroing 1.2 MB per detector
 * request would be work thrown away.
 */
function uninitializedBytes(length: number, inputBuffers: InputBufferPool | undefined): Uint8Array {
  if (inputBuffers) return new Uint8Array(inputBuffers.take(length), 0, length)
  const bytes = Buffer.allocUnsafeSlow(length)
  return new Uint8Array(bytes.buffer, bytes.byteOffset, length)
}

/**
 * Reads an infer request body from the socket. With the binary extension and a Content-Length (what every
 * client sends), the tensor bytes are copied once, straight from the socket chunks into one fresh
 * ArrayBuffer (from `inputBuffers` when given: one an inference thread handed back, whose pages are mapped
 * already): no whole-body concatenation and no second copy per tensor. A large plain JSON body is not
 * copied here at all: its chunks go as they came to the JSON thread, which joins them (kserve/body-chunks.ts).
 * Large bodies arrive at hundreds of MB/s, and every avoided copy is garbage the main thread does not have to
 * collect while it answers /health.
 */
export function readInferBody(
  payload: Readable,
  headers: Record<string, string | string[] | undefined>,
  limit: number,
  parseJson: (text: string) => unknown,
  jsonPool?: JsonCodecPool,
  inputBuffers?: InputBufferPool,
): Promise<InferBody> {
  const binaryHeader = headers[INFERENCE_HEADER_CONTENT_LENGTH]
  const declared = Number(headers['content-length'])
  const known = Number.isSafeInteger(declared) && declared >= 0
  return new Promise((resolve, reject) => {
    if (known && declared > limit) {
      payload.resume()
      reject(new ErrPayloadTooLarge(limit))
      return
    }
    let received = 0
    const chunks: Buffer[] = []
    // Binary extension with a known length: the JSON part is gathered, the rest copied into `tensorBytes`.
    let jsonLength = -1
    let tensorBytes: Uint8Array | null = null
    let tensorOffset = 0
    // A large plain JSON body with a known length is kept as its chunks, for the JSON thread.
    const offThread =
      jsonPool !== undefined && binaryHeader === undefined && known && declared >= OFF_THREAD_JSON_BYTES
    const fail = (error: Error) => {
      payload.removeAllListeners('data')
      payload.resume()
      reject(error)
    }
    payload.on('data', (chunk: Buffer) => {
      received += chunk.length
      if (received > limit) return fail(new ErrPayloadTooLarge(limit))
      if (tensorBytes) {
        if (tensorOffset + chunk.length > tensorBytes.length)
          return fail(new ErrMalformedBody('body longer than its Content-Length'))
        tensorBytes.set(chunk, tensorOffset)
        tensorOffset += chunk.length
        return
      }
      if (offThread && received > declared)
        return fail(new ErrMalformedBody('body longer than its Content-Length'))
      chunks.push(chunk)
      if (binaryHeader === undefined || !known) return
      if (jsonLength < 0) {
        try {
          jsonLength = headerLength(binaryHeader, declared)
        } catch (error) {
          return fail(error as Error)
        }
      }
      if (received < jsonLength) return
      // The JSON part is complete: everything after it goes into one aligned buffer.
      const head = Buffer.concat(chunks, received)
      chunks.length = 0
      chunks.push(head.subarray(0, jsonLength))
      tensorBytes = uninitializedBytes(declared - jsonLength, inputBuffers)
      tensorBytes.set(head.subarray(jsonLength), 0)
      tensorOffset = received - jsonLength
    })
    payload.once('error', reject)
    payload.once('end', () => {
      try {
        if (offThread && jsonPool) {
          if (received !== declared) throw new ErrMalformedBody('body shorter than its Content-Length')
          jsonPool.decode(chunks).then((request) => resolve({ kind: 'decoded', request }), reject)
          return
        }
        if (tensorBytes) {
          if (tensorOffset !== tensorBytes.length)
            throw new ErrMalformedBody('body shorter than its Content-Length')
          const text = (chunks[0] as Buffer).toString('utf8')
          let json: unknown
          try {
            json = parseJson(text)
          } catch (error) {
            throw new ErrMalformedBody(
              `the first ${jsonLength} bytes (${INFERENCE_HEADER_CONTENT_LENGTH}) are not JSON: ${(error as Error).message}`,
            )
          }
          resolve({ kind: 'binary', json, tensors: tensorBytes, owned: true })
          return
        }
        resolve(parseInferBody(Buffer.concat(chunks, received), binaryHeader, parseJson))
      } catch (error) {
        reject(error as Error)
      }
    })
  })
}
