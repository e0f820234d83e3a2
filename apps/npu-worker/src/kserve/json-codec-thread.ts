// worker_threads entry: the JSON side of big tensors, off the main thread.
// - decode: parses a large JSON infer body and turns its tensor data into typed arrays. A 1×3×320×320 FP32
//   tensor is ~2.5 MB of JSON whose parse alone blocks an event loop for ~45 ms on these machines; here it
//   blocks nothing that answers /health. Same checks as the inline path: Fastify's prototype-poisoning rules
//   (secure-json-parse), the protocol schema, every element.
// - encode: writes the JSON answer of an inference with large outputs (~10 ms for 1×1×320×320 on the
//   event loop otherwise).
import { InferRequestSchema, type InferResponse } from '@npu-fleet/protocol'
import secureJson from 'secure-json-parse'
import type { Tensor } from '../backends/tensor.js'
import { lowerThreadPriority } from '../backends/thread-priority.js'
import { formatIssues } from '../format-issues.js'
import { serveThread, type TransferableReply } from '../threads/thread-service.js'
import { decodeJsonData, encodeOutput } from './tensor-codec.js'

/** Work for the thread: a body to decode, or an answer to encode (buffers transferred to the thread). */
export type JsonCodecRequest =
  | { kind: 'decode'; bytes: Uint8Array }
  | { kind: 'encode'; response: InferResponse; tensors: Array<{ name: string; tensor: Tensor }> }

/** The decoded request (inputs' `data` as typed arrays, transferred back), the encoded answer, or a 400. */
export type JsonCodecReply =
  | { ok: true; request: unknown }
  | { ok: true; json: Uint8Array }
  | { ok: false; kind: 'malformed' | 'invalid'; message: string }

// Bulk work: below the event loop's priority, like the inference threads.
lowerThreadPriority()

function decode(bytes: Uint8Array): TransferableReply<JsonCodecReply> {
  let json: unknown
  try {
    json = secureJson.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'), {
      protoAction: 'error',
      constructorAction: 'error',
    })
  } catch (error) {
    return { reply: { ok: false, kind: 'malformed', message: (error as Error).message } }
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    return { reply: { ok: false, kind: 'malformed', message: 'expected a JSON object with "inputs"' } }
  }
  const parsed = InferRequestSchema.safeParse(json)
  if (!parsed.success) return { reply: { ok: false, kind: 'invalid', message: formatIssues(parsed.error) } }
  try {
    const transfer: ArrayBuffer[] = []
    const inputs = parsed.data.inputs.map((input, index) => {
      if (input.data === undefined || input.datatype === 'BYTES') return input
      const data = decodeJsonData(input, `inputs[${index}]`)
      transfer.push(data.buffer as ArrayBuffer)
      return { ...input, data }
    })
    return { reply: { ok: true, request: { ...parsed.data, inputs } }, transfer }
  } catch (error) {
    return { reply: { ok: false, kind: 'invalid', message: (error as Error).message } }
  }
}

function encode(
  response: InferResponse,
  tensors: Array<{ name: string; tensor: Tensor }>,
): TransferableReply<JsonCodecReply> {
  const outputs = tensors.map(({ name, tensor }) => encodeOutput(name, tensor))
  const json = Buffer.from(
    JSON.stringify({ ...response, outputs: [...response.outputs, ...outputs] }),
    'utf8',
  )
  // A fresh copy that owns its buffer (Buffer.from may sit in the shared pool), so it can be transferred.
  const owned = new Uint8Array(json.length)
  owned.set(json)
  return { reply: { ok: true, json: owned }, transfer: [owned.buffer] }
}

serveThread<JsonCodecRequest, JsonCodecReply, null>(() => ({
  start: () => null,
  handle: (request) =>
    request.kind === 'decode' ? decode(request.bytes) : encode(request.response, request.tensors),
}))
