/** Percentiles of one worker's recent latencies. */
export interface LatencySummary {
  /** Samples the figures come from (at most the window size). */
  samples: number
  p50: number | null
  p95: number | null
  p99: number | null
}

/**
 * The last `capacity` latencies in a ring buffer: recording is O(1) with no allocation (it runs on every
 * request); percentiles sort a copy, only when someone reads them.
 */
export class LatencyWindow {
  readonly #values: Float64Array
  #next = 0
  #count = 0

  constructor(capacity = 1024) {
    this.#values = new Float64Array(capacity)
  }

  /** Adds one latency in milliseconds. */
  record(ms: number): void {
    this.#values[this.#next] = ms
    this.#next = (this.#next + 1) % this.#values.length
    if (this.#count < this.#values.length) this.#count++
  }

  /** p50/p95/p99 (nearest-rank) of the window, or nulls when empty. */
  summary(): LatencySummary {
    if (this.#count === 0) return { samples: 0, p50: null, p95: null, p99: null }
    const sorted = this.#values.slice(0, this.#count).sort()
    const at = (p: number) =>
      sorted[Math.min(this.#count - 1, Math.ceil((p / 100) * this.#count) - 1)] as number
    return { samples: this.#count, p50: at(50), p95: at(95), p99: at(99) }
  }
}
