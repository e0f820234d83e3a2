import { freeArrayBuffers, OWN_MAPPING_MIN_BYTES } from '../threads/free-array-buffers.js'

/** Buffers smaller than this are not kept: malloc serves them from memory it already has mapped (see OWN_MAPPING_MIN_BYTES). */
export const POOLED_MIN_BYTES = OWN_MAPPING_MIN_BYTES

/** At most this many bytes of free buffers are kept. */
export const POOLED_MAX_BYTES = 16 * 1024 * 1024

/** Free buffers are freed once no body has taken one for this long, so an idle worker holds none. */
export const POOLED_IDLE_MS = 10_000

/**
 * Input buffers that came back from an inference thread once its run was done with them, kept for the next
 * request body of the same size. A fresh ArrayBuffer of 64 KiB or more is a fresh mmap, so copying a body into
 * it from the socket faults its pages in one at a time: for the detector's 1.2 MB input (1×3×320×320 FP32),
 * 300 faults and about 1.3 ms of the main thread per request on this machine, against 60 µs to fill a buffer
 * whose pages are mapped already. Bounded by `maxBytes`; every buffer is freed after `idleMs` without a take.
 * Buffers it does not keep, and the ones it lets go, are freed at once (threads/free-array-buffers.ts): left to
 * V8, they stayed mapped until the next mark-compact of the main heap, which an idle worker does not run.
 */
export class InputBufferPool {
  readonly #free = new Map<number, ArrayBuffer[]>()
  #bytes = 0
  #lastTake = 0
  #idleTimer: NodeJS.Timeout | null = null

  constructor(
    readonly maxBytes: number = POOLED_MAX_BYTES,
    readonly idleMs: number = POOLED_IDLE_MS,
  ) {}

  /** Bytes held in free buffers now. */
  get heldBytes(): number {
    return this.#bytes
  }

  /**
   * A buffer of exactly `byteLength` bytes, not zeroed: a kept one (holding an earlier request's bytes) or a
   * fresh one. The caller must write every byte before anything reads it.
   */
  take(byteLength: number): ArrayBuffer {
    this.#lastTake = performance.now()
    const kept = this.#free.get(byteLength)?.pop()
    if (!kept) {
      const fresh = Buffer.allocUnsafeSlow(byteLength)
      return fresh.buffer as ArrayBuffer
    }
    this.#bytes -= byteLength
    return kept
  }

  /**
   * Takes `buffer` over (the caller must hold no view of it it reads afterwards): keeps it for a later take
   * when it is big enough to be worth it and the pool has room, frees it now otherwise.
   */
  give(buffer: ArrayBuffer): void {
    const size = buffer.byteLength
    if (size < POOLED_MIN_BYTES) return
    if (this.#bytes + size > this.maxBytes) {
      freeArrayBuffers([buffer])
      return
    }
    let list = this.#free.get(size)
    if (!list) {
      list = []
      this.#free.set(size, list)
    }
    list.push(buffer)
    this.#bytes += size
    this.#armIdleRelease()
  }

  /** Frees every kept buffer. */
  clear(): void {
    for (const list of this.#free.values()) freeArrayBuffers(list)
    this.#free.clear()
    this.#bytes = 0
    if (this.#idleTimer) clearTimeout(this.#idleTimer)
    this.#idleTimer = null
  }

  // One timer while buffers are kept, re-armed for the rest of the idle time when bodies took some meanwhile:
  // no timer work per request.
  #armIdleRelease(): void {
    if (this.#idleTimer) return
    const wait = Math.max(0, this.#lastTake + this.idleMs - performance.now())
    this.#idleTimer = setTimeout(() => {
      this.#idleTimer = null
      if (performance.now() - this.#lastTake >= this.idleMs) this.clear()
      else if (this.#bytes > 0) this.#armIdleRelease()
    }, wait)
    this.#idleTimer.unref()
  }
}
