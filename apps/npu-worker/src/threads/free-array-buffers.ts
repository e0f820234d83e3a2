import { MessageChannel, type MessagePort } from 'node:worker_threads'

/**
 * The smallest buffer with a mapping of its own: glibc's mmap threshold as the release launcher fixes it
 * (`MALLOC_MMAP_THRESHOLD_=65536`, scripts/release/npu-worker.sh). Smaller buffers are malloc's memory, which
 * costs nothing to keep and may be a slice of Node's shared Buffer pool, so they are neither pooled nor freed.
 */
export const OWN_MAPPING_MIN_BYTES = 64 * 1024

/**
 * A port whose channel is closed. Posting on it still serializes the message, and so detaches every buffer in
 * the transfer list, and then drops the message with the buffers' memory (the HTML rules for an entangled port
 * that has closed, which Node follows: checked in test/threads/free-array-buffers.test.ts).
 */
let closedPort: MessagePort | null = null

function closed(): MessagePort {
  if (closedPort) return closedPort
  const { port1, port2 } = new MessageChannel()
  port1.close()
  port2.close()
  closedPort = port1
  return closedPort
}

/**
 * Gives the memory of `buffers` back now, instead of at the isolate's next mark-compact. A dropped ArrayBuffer
 * keeps its backing store (for one of 64 KiB or more, a mapping of its own) until V8 collects the object: an
 * idle event loop allocates almost nothing and so collects nothing, and under load the dead bytes count as
 * external memory, which starts mark-compacts of the main heap while it should be answering. ~2.5 µs a buffer.
 *
 * The caller must own every buffer outright: no pending native write or other thread may still read it, and
 * every view of it reads as empty afterwards (detached).
 */
export function freeArrayBuffers(buffers: readonly ArrayBuffer[]): void {
  if (buffers.length === 0) return
  closed().postMessage(null, buffers as ArrayBuffer[])
}
