/**
 * One worker's concurrency in this pool: its cap (`max_concurrent_tasks`, the same name from the YAML to here),
 * the requests in flight with the work they are expected to take, and the Retry-After it asked for. The cap
 * is set by the membership (reload), the rest by the leases; nothing else writes them.
 */
export class TaskSlots {
  #maxConcurrentTasks: number
  #activeTasks = 0
  #pendingMs = 0
  #coldInFlight = 0
  #backoffUntil = 0

  constructor(maxConcurrentTasks: number) {
    this.#maxConcurrentTasks = maxConcurrentTasks
  }

  /** Requests the pool keeps in flight on the worker at most. */
  get maxConcurrentTasks(): number {
    return this.#maxConcurrentTasks
  }
  /** Requests in flight from this pool. */
  get activeTasks(): number {
    return this.#activeTasks
  }
  /** Sum of the latency estimates (ms) of the requests in flight, taken when each was sent. */
  get pendingMs(): number {
    return this.#pendingMs
  }
  /** Requests in flight that had no estimate when sent (their work is unknown). */
  get coldInFlight(): number {
    return this.#coldInFlight
  }
  /** `Date.now()` before which the worker asked not to get traffic (Retry-After); 0 when none. */
  get backoffUntil(): number {
    return this.#backoffUntil
  }

  /** A new cap (hot reload); requests in flight stay. */
  resize(maxConcurrentTasks: number): void {
    this.#maxConcurrentTasks = maxConcurrentTasks
  }
  /** One more in flight, expected to take `expectedMs` (0: unknown). */
  take(expectedMs: number): void {
    this.#activeTasks++
    if (expectedMs > 0) this.#pendingMs += expectedMs
    else this.#coldInFlight++
  }
  /** One fewer in flight: the one taken with `expectedMs`. */
  give(expectedMs: number): void {
    this.#activeTasks--
    if (expectedMs > 0) {
      // Floating sums drift: an empty worker has no pending work, exactly.
      this.#pendingMs = this.#activeTasks - this.#coldInFlight === 0 ? 0 : this.#pendingMs - expectedMs
    } else this.#coldInFlight--
  }
  /** Keeps the worker out until `until`; false when an earlier call already reaches further. */
  backOff(until: number): boolean {
    if (until <= this.#backoffUntil) return false
    this.#backoffUntil = until
    return true
  }
}
