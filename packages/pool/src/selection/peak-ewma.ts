// Failures never make a worker look faster: each one at least doubles its estimate (from this floor when it
// had none), so a worker answering fast 500s repels traffic instead of attracting it (Linkerd's fast-failure loop).
const FAILURE_FLOOR_MS = 1

// The arithmetic of a peak-EWMA estimate, on plain numbers, so an estimate can live in an object field or in
// a typed-array slot alike. An estimate of 0 means "no sample yet".

/** The estimate (ms) as of `now`: it decays toward zero over `decayMs` without samples. */
export function decayedEstimate(estimate: number, stamp: number, now: number, decayMs: number): number {
  if (estimate === 0) return 0
  const dt = now - stamp
  return dt <= 0 ? estimate : estimate * Math.exp(-dt / decayMs)
}

/** After a successful request of `ms`: a slower sample is taken at once, a faster one by the time since the last. */
export function estimateAfterSuccess(
  estimate: number,
  stamp: number,
  ms: number,
  now: number,
  decayMs: number,
): number {
  const dt = now - stamp
  // Weight of the old estimate: near 1 for a sample right after the last, near 0 after a long quiet.
  const w = estimate === 0 ? 0 : dt <= 0 ? 1 : Math.exp(-dt / decayMs)
  const decayed = estimate * w
  return ms > decayed ? ms : decayed + ms * (1 - w)
}

/** After a request that failed against the worker after `ms`: at least double. */
export function estimateAfterFailure(
  estimate: number,
  stamp: number,
  ms: number,
  now: number,
  decayMs: number,
): number {
  return Math.max(decayedEstimate(estimate, stamp, now, decayMs) * 2, ms, FAILURE_FLOOR_MS)
}

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
    return decayedEstimate(this.#estimate, this.#stamp, now, this.#decayMs)
  }

  /** A successful request took `ms`. */
  observe(ms: number, now: number): void {
    this.#estimate = estimateAfterSuccess(this.#estimate, this.#stamp, ms, now, this.#decayMs)
    this.#stamp = now
  }

  /** A request failed against the worker after `ms`: the estimate at least doubles. */
  penalize(ms: number, now: number): void {
    this.#estimate = estimateAfterFailure(this.#estimate, this.#stamp, ms, now, this.#decayMs)
    this.#stamp = now
  }

  /** A request ran `ms` without an answer that is not the worker's fault (the caller's deadline): a lower bound. */
  atLeast(ms: number, now: number): void {
    if (ms <= this.estimate(now)) return
    this.#estimate = ms
    this.#stamp = now
  }
}
