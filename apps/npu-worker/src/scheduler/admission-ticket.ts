/**
 * A place in a model's queue held for one request from the moment its headers are in until its inference is
 * queued, while its body is still being read (ModelQueue.admit). Without it, a burst of requests would all
 * pass admission before any of them reached the queue, and the worker would read every body only to refuse
 * most of them afterwards.
 */
export class AdmissionTicket {
  #held = true
  readonly #onRelease: () => void

  constructor(onRelease: () => void) {
    this.#onRelease = onRelease
  }

  /** True until released. */
  get held(): boolean {
    return this.#held
  }

  /** Gives the place back; the request reached the queue, or ended before it did. Safe to call again. */
  release(): void {
    if (!this.#held) return
    this.#held = false
    this.#onRelease()
  }
}
