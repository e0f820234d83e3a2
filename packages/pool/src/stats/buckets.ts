/** Upper bounds (seconds) of the pool's latency histograms: 0.5 ms to 30 s, the range from an MLP to an OCR page. */
export const LATENCY_BUCKETS_SECONDS: readonly number[] = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
]

/**
 * A fixed-bucket histogram of durations, recorded in place (a loop over at most 15 bounds, no allocation): on
 * every request, so not prom-client's histogram, whose `observe` hashes its labels each call. The metrics
 * exposition reads it at scrape time.
 */
export class Buckets {
  /** Observations at or below each bound (not cumulative; the exposition accumulates). */
  readonly counts = new Float64Array(LATENCY_BUCKETS_SECONDS.length)
  /** Observations above the last bound. */
  overflow = 0
  sum = 0
  count = 0

  /** Adds one duration in seconds. */
  observe(seconds: number): void {
    this.sum += seconds
    this.count++
    for (let i = 0; i < LATENCY_BUCKETS_SECONDS.length; i++) {
      if (seconds <= (LATENCY_BUCKETS_SECONDS[i] as number)) {
        this.counts[i]!++
        return
      }
    }
    this.overflow++
  }
}
