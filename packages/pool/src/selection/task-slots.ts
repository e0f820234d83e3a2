/**
 * One worker's concurrency in this pool: its cap (`max_concurrent_tasks`, the same name from the YAML to here),
 * the requests in flight, and the Retry-After it asked for. The cap is set by the membership (reload), the
 * count and back-off by the leases; nothing else writes them.
 */
export class TaskSlots {
  #maxConcurrentTasks: number
  #activeTasks = 0
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
  /** `Date.now()` before which the worker asked not to get traffic (Retry-After); 0 when none. */
  get backoffUntil(): number {
    return this.#backoffUntil
  }

  /** A new cap (hot reload); requests in flight stay. */
  resize(maxConcurrentTasks: number): void {
    this.#maxConcurrentTasks = maxConcurrentTasks
  }
  /** One more in flight. */
  take(): void {
    this.#activeTasks++
  }
  /** One fewer in flight. */
  give(): void {
    this.#activeTasks--
  }
  /** Keeps the worker out until `until`; false when an earlier call already reaches further. */
  backOff(until: number): boolean {
    if (until <= this.#backoffUntil) return false
    this.#backoffUntil = until
    return true
  }
}
