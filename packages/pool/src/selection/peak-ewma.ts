// Failures never make a worker look faster: each one at least doubles its estimate (from this floor when it
// had none), so a worker answering fast 500s repels traffic instead of attracting it (Linkerd's fast-failure loop).
const FAILURE_FLOOR_MS = 1

/**
 * A worker's latency as Finagle's and Linkerd's peak-EWMA balancers keep it: a slower sample replaces the
 * estimate at once (the peak), a faster one pulls it down by a weight that grows with the time since the last
 * sample, and with no samples it decays toward zero over `decayMs` (so a worker that was slow gets tried
 * again). Reading is pure arithmetic: no allocation, no clock of its own (`now` is `Date.now()`).
 */
export class PeakEwma {
  #estimate = 0
  #stamp = 0
  #decayMs: number

  constructor(decayMs: number) {
    this.#decayMs = decayMs
  }

  /** A new decay time (hot reload). */
  configure(decayMs: number): void {
    this.#decayMs = decayMs
  }

  /** The estimate in ms decayed to `now`; 0 while there has been no sample. */
  estimate(now: number): number {
    const e = this.#estimate
    if (e === 0) return 0
    const dt = now - this.#stamp
    return dt <= 0 ? e : e * Math.exp(-dt / this.#decayMs)
  }

  /** A successful request took `ms`. */
  observe(ms: number, now: number): void {
    const dt = now - this.#stamp
    // Weight of the old estimate: near 1 for a sample right after the last, near 0 after a long quiet.
    const w = this.#estimate === 0 ? 0 : dt <= 0 ? 1 : Math.exp(-dt / this.#decayMs)
    const decayed = this.#estimate * w
    this.#estimate = ms > decayed ? ms : decayed + ms * (1 - w)
    this.#stamp = now
  }

  /** A request failed against the worker after `ms`: the estimate at least doubles. */
  penalize(ms: number, now: number): void {
    const decayed = this.estimate(now)
    this.#estimate = Math.max(decayed * 2, ms, FAILURE_FLOOR_MS)
    this.#stamp = now
  }

  /** A request ran `ms` without an answer that is not the worker's fault (the caller's deadline): a lower bound. */
  atLeast(ms: number, now: number): void {
    const decayed = this.estimate(now)
    if (ms <= decayed) return
    this.#estimate = ms
    this.#stamp = now
  }
}
