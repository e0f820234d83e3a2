import { EncodedBody } from '../transport/binary-tensors.js'

/** A call's body as it goes on the wire, or why it cannot be sent. */
export type RequestBody = { ok: true; body: string | EncodedBody } | { ok: false; message: string }

/** Serialises `data` once per task (every attempt sends the same bytes); an already framed binary body goes as it is. */
export function requestBody(data: unknown): RequestBody {
  if (data instanceof EncodedBody) return { ok: true, body: data }
  let text: string | undefined
  try {
    text = JSON.stringify(data)
  } catch (error) {
    return { ok: false, message: `data cannot be sent as JSON: ${(error as Error).message}` }
  }
  if (text === undefined)
    return { ok: false, message: 'data cannot be sent as JSON (undefined or a function)' }
  return { ok: true, body: text }
}
