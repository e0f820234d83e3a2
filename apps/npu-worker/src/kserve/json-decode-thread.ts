// worker_threads entry: parses large JSON infer bodies and turns their tensor data into typed arrays, off
// the main thread. A 1×3×320×320 FP32 tensor is ~2.5 MB of JSON whose parse alone blocks an event loop for
// ~45 ms on these machines; here it blocks nothing that answers /health. Same checks as the inline path:
// Fastify's prototype-poisoning rules (secure-json-parse), the protocol schema, every element.
import { parentPort } from 'node:worker_threads'
import { InferRequestSchema } from '@npu-fleet/protocol'
import secureJson from 'secure-json-parse'
import { lowerThreadPriority } from '../backends/thread-priority.js'
import { formatIssues } from '../format-issues.js'
import { decodeJsonData } from './tensor-codec.js'

/** A body to decode (its bytes are transferred to the thread). */
export interface JsonDecodeRequest {
  id: number
  bytes: Uint8Array
}

/** The decoded request (inputs' `data` as typed arrays, transferred back), or why it is a 400. */
export type JsonDecodeReply =
  | { id: number; ok: true; request: unknown }
  | { id: number; ok: false; kind: 'malformed' | 'invalid'; message: string }

// Bulk work: below the event loop's priority, like the inference threads.
lowerThreadPriority()

parentPort?.on('message', ({ id, bytes }: JsonDecodeRequest) => {
  const reply = (message: JsonDecodeReply, transfer: ArrayBuffer[] = []) =>
    parentPort?.postMessage(message, transfer)
  let json: unknown
  try {
    json = secureJson.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'), {
      protoAction: 'error',
      constructorAction: 'error',
    })
  } catch (error) {
    reply({ id, ok: false, kind: 'malformed', message: (error as Error).message })
    return
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    reply({ id, ok: false, kind: 'malformed', message: 'expected a JSON object with "inputs"' })
    return
  }
  const parsed = InferRequestSchema.safeParse(json)
  if (!parsed.success) {
    reply({ id, ok: false, kind: 'invalid', message: formatIssues(parsed.error) })
    return
  }
  try {
    const transfer: ArrayBuffer[] = []
    const inputs = parsed.data.inputs.map((input, index) => {
      if (input.data === undefined || input.datatype === 'BYTES') return input
      const data = decodeJsonData(input, `inputs[${index}]`)
      transfer.push(data.buffer as ArrayBuffer)
      return { ...input, data }
    })
    reply({ id, ok: true, request: { ...parsed.data, inputs } }, transfer)
  } catch (error) {
    reply({ id, ok: false, kind: 'invalid', message: (error as Error).message })
  }
})
