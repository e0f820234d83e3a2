import { Readable } from 'node:stream'
import { INFERENCE_HEADER_CONTENT_LENGTH, type InferResponse } from '@npu-fleet/protocol'
import type { FastifyReply } from 'fastify'
import type { EncodedResponse } from '../kserve/encode-response.js'
import { answerJson } from '../kserve/json-answer.js'
import { type JsonCodecPool, OFF_THREAD_JSON_ELEMENTS } from '../kserve/json-codec-pool.js'
import { jsonElements } from '../kserve/tensor-codec.js'
import { freeArrayBuffers, OWN_MAPPING_MIN_BYTES } from '../threads/free-array-buffers.js'

/** Answers up to this size go out as one buffer: a stream costs more per request than copying them. */
export const STREAMED_REPLY_BYTES = 64 * 1024

/**
 * Frames a response for the binary extension: the JSON header, then each output's bytes in order. A large
 * answer goes out as a stream of those parts (no copy of the tensors into one body buffer); a small one as
 * one buffer, since a Readable and its piping cost tens of microseconds per request (the MLP's whole answer
 * is under 1 KB). Returns the body, the value of the `Inference-Header-Content-Length` header and the total
 * length (for Content-Length).
 */
export function frameBinaryResponse(
  json: unknown,
  chunks: readonly Uint8Array[],
): { body: Readable | Buffer; headerLength: number; contentLength: number } {
  const header = Buffer.from(JSON.stringify(json), 'utf8')
  const parts = [header, ...chunks.map((c) => Buffer.from(c.buffer, c.byteOffset, c.byteLength))]
  const contentLength = parts.reduce((sum, part) => sum + part.length, 0)
  const body =
    contentLength <= STREAMED_REPLY_BYTES
      ? Buffer.concat(parts, contentLength)
      : Readable.from(parts, { objectMode: false })
  return { body, headerLength: header.length, contentLength }
}

/**
 * Sends an answer over REST: JSON, or with raw outputs the binary extension (`application/octet-stream`, the
 * JSON header's length in `Inference-Header-Content-Length`). An all-JSON answer is written as text
 * (kserve/json-answer.ts), on the JSON thread when its outputs are big, not on the event loop.
 */
export async function sendInferResponse(
  reply: FastifyReply,
  answer: EncodedResponse,
  jsonPool: JsonCodecPool,
): Promise<FastifyReply> {
  const header = {
    model_name: answer.model_name,
    model_version: answer.model_version,
    ...(answer.id !== undefined ? { id: answer.id } : {}),
  }
  const { outputs } = answer
  if (outputs.every((o) => o.raw === null)) {
    const elements = outputs.reduce((sum, o) => sum + o.tensor.data.length, 0)
    if (elements < OFF_THREAD_JSON_ELEMENTS)
      return reply.type('application/json; charset=utf-8').send(answerJson(header, outputs))
    const json = await jsonPool.encode(header, outputs)
    // The text (1 to 3 MB for the detector) is this answer's alone, made for it by the JSON thread: its memory
    // goes back once the socket has taken every byte ('finish'), not at a later mark-compact of the main heap.
    // A response that ends otherwise (the client went away) leaves it to the collector.
    reply.raw.once('finish', () => freeArrayBuffers([json.buffer as ArrayBuffer]))
    return reply.type('application/json; charset=utf-8').send(json)
  }
  const response: InferResponse = { ...header, outputs: [] }
  const chunks: Uint8Array[] = []
  for (const { name, datatype, shape, tensor, raw } of outputs) {
    if (raw === null) {
      response.outputs.push({ name, datatype, shape, data: jsonElements(tensor) })
    } else {
      response.outputs.push({ name, datatype, shape, parameters: { binary_data_size: raw.length } })
      chunks.push(raw)
    }
  }
  const framed = frameBinaryResponse(response, chunks)
  // A streamed answer writes the outputs' own buffers (copies the backends made for this answer alone): the
  // big ones are freed once the socket took them, as the JSON text above (small ones: OWN_MAPPING_MIN_BYTES).
  if (!Buffer.isBuffer(framed.body)) {
    const big = chunks
      .map((c) => c.buffer as ArrayBuffer)
      .filter((b) => b.byteLength >= OWN_MAPPING_MIN_BYTES)
    const buffers = [...new Set(big)]
    if (buffers.length > 0) reply.raw.once('finish', () => freeArrayBuffers(buffers))
  }
  reply.header(INFERENCE_HEADER_CONTENT_LENGTH, String(framed.headerLength))
  reply.header('content-length', String(framed.contentLength))
  return reply.type('application/octet-stream').send(framed.body)
}
