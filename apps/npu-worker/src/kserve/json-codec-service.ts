// The JSON codec thread's service (its entry: json-codec-thread.ts): the JSON side of big tensors, off the main
// thread.
// - decode: parses a large JSON infer body and turns its tensor data into typed arrays. A 1×3×320×320 FP32
//   tensor is ~2.5 MB of JSON whose parse alone blocks an event loop for ~45 ms on these machines; here it
//   blocks nothing that answers /health. Same checks as the inline path: Fastify's prototype-poisoning rules
//   (secure-json-parse's, in json-tensor-parser.ts, which reads the tensors' numbers straight into typed
//   arrays instead of JS arrays), the protocol schema, every element.
// - encode: writes the JSON answer of an inference with large outputs (~10 ms for 1×1×320×320 on the
//   event loop otherwise).
import { ErrMalformedBody } from '../errors.js'
import type { ThreadService, TransferableReply } from '../threads/thread-service.js'
import { type BodyChunks, releaseChunks } from './body-chunks.js'
import { createFloat32Scanner } from './float32-scanner.js'
import type { StructuredInferRequest, StructuredInput } from './infer-body.js'
import { type AnswerHeader, answerJson, type ElementOutput } from './json-answer.js'
import { structureJsonRequest } from './json-request.js'
import { parseJsonTensors } from './json-tensor-parser.js'
import { tensorFromElements } from './tensor-codec.js'

/**
 * Work for the thread: a body to decode, as the socket's chunks (joined here, not on the event loop), or an
 * answer to encode (buffers transferred to the thread).
 */
export type JsonCodecRequest =
  | { kind: 'decode'; body: BodyChunks }
  | { kind: 'encode'; header: AnswerHeader; outputs: ElementOutput[] }

/** The decoded request (its inputs' data as tensors, buffers transferred back), the encoded answer, or a 400. */
export type JsonCodecReply =
  | { ok: true; kind: 'decoded'; request: StructuredInferRequest }
  | { ok: true; kind: 'encoded'; json: Uint8Array }
  | { ok: false; kind: 'malformed' | 'invalid'; message: string }

// One buffer for every body of this thread, the scanner's WebAssembly memory: a fresh one per body would cost
// its page faults each time, and there the scanner's loop reads FP32 data without a second copy. Without one
// (see createFloat32Scanner), a buffer per body and the JS loop.
const scanner = createFloat32Scanner()
const joinBody = (body: BodyChunks): Uint8Array =>
  scanner === null ? Buffer.concat(body.chunks, body.length) : scanner.join(body)

function decode(body: BodyChunks): TransferableReply<JsonCodecReply> {
  let json: unknown
  try {
    // Fastify's rules (secure-json-parse), with the tensors' numbers read straight into typed arrays.
    const joined = joinBody(body)
    // The join copied the chunks: their memory goes back now, not at some later GC.
    releaseChunks(body)
    json = parseJsonTensors(joined, scanner ?? undefined)
  } catch (error) {
    return { reply: { ok: false, kind: 'malformed', message: (error as Error).message } }
  }
  try {
    const request = structureJsonRequest(json, null)
    const transfer: ArrayBuffer[] = []
    // Each input by its own datatype and shape: the main thread then checks those against the model.
    const inputs = request.inputs.map((input): StructuredInput => {
      if (input.contents.kind !== 'elements') return input
      const tensor = tensorFromElements(
        input.contents.data,
        input.datatype,
        input.shape,
        input.contents.field,
      )
      if (tensor.datatype !== 'BYTES') transfer.push(tensor.data.buffer as ArrayBuffer)
      return { ...input, contents: { kind: 'tensor', tensor } }
    })
    return { reply: { ok: true, kind: 'decoded', request: { ...request, inputs } }, transfer }
  } catch (error) {
    const kind = error instanceof ErrMalformedBody ? 'malformed' : 'invalid'
    return { reply: { ok: false, kind, message: (error as Error).message } }
  }
}

function encode(header: AnswerHeader, outputs: ElementOutput[]): TransferableReply<JsonCodecReply> {
  const text = answerJson(header, outputs)
  // Written straight into a buffer of its own (allocUnsafeSlow: never the shared pool), so it can be
  // transferred: no second copy.
  const owned = Buffer.allocUnsafeSlow(Buffer.byteLength(text, 'utf8'))
  owned.write(text, 0, 'utf8')
  return { reply: { ok: true, kind: 'encoded', json: owned }, transfer: [owned.buffer as ArrayBuffer] }
}

/** The service of one JSON codec thread: stateless but for the scanner's memory. */
export function createJsonCodecService(): ThreadService<JsonCodecRequest, JsonCodecReply, null> {
  return {
    start: () => null,
    handle: (request) =>
      request.kind === 'decode' ? decode(request.body) : encode(request.header, request.outputs),
  }
}
