// A request body as the socket delivered it: the HTTP parser's chunk Buffers, handed whole to the thread that
// consumes them instead of being copied into one buffer on the event loop. Node's parser gives every body
// chunk an ArrayBuffer of its own (`Parser::on_body` → `Buffer::Copy`: a fresh backing store of exactly the
// chunk's length), so transferring it detaches nothing anyone else holds. A chunk that is a view into a larger
// buffer (Buffer.from of a string sits in the shared pool; light-my-request's bodies) is copied instead.
import { MessageChannel } from 'node:worker_threads'

/** Body bytes in arrival order, each chunk the only view of its own ArrayBuffer once made transferable. */
export interface BodyChunks {
  chunks: Uint8Array[]
  /** The sum of the chunks' lengths. */
  length: number
}

/** True when `chunk` covers the whole of its ArrayBuffer, so transferring it gives away nothing else. */
export function ownsItsBuffer(chunk: Uint8Array): boolean {
  return (
    chunk.byteOffset === 0 &&
    chunk.byteLength === chunk.buffer.byteLength &&
    chunk.buffer instanceof ArrayBuffer
  )
}

/**
 * `chunks` made safe to transfer, and the buffers to transfer: each chunk that owns its buffer as it is, any
 * other copied into one of its own. The caller gives the chunks up.
 */
export function transferableChunks(chunks: readonly Uint8Array[]): {
  body: BodyChunks
  transfer: ArrayBuffer[]
} {
  const owned: Uint8Array[] = []
  const transfer: ArrayBuffer[] = []
  let length = 0
  for (const chunk of chunks) {
    const mine = ownsItsBuffer(chunk) ? chunk : new Uint8Array(chunk)
    owned.push(mine)
    transfer.push(mine.buffer as ArrayBuffer)
    length += mine.length
  }
  return { body: { chunks: owned, length }, transfer }
}

/**
 * Frees the chunks' memory now, once their bytes were copied out: transferred into a message on a port that is
 * closed, their backing stores go with the dropped message. Left to this isolate's GC instead, the dead chunks
 * of each detector body (6 MB) pile up as external memory until it forces a mark-compact every few bodies
 * (concurrent marking on V8's platform threads), where a body's young garbage alone asks only for scavenges.
 * The chunks are detached: their views read as empty afterwards.
 */
export function releaseChunks(body: BodyChunks): void {
  const { port1, port2 } = new MessageChannel()
  port1.postMessage(
    null,
    body.chunks.map((chunk) => chunk.buffer as ArrayBuffer),
  )
  port1.close()
  port2.close()
}
