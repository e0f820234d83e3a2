import { decayedEstimate, estimateAfterFailure, estimateAfterSuccess, PeakEwma } from './peak-ewma.js'
import type { WorkNeed } from './selectable-worker.js'

/** How many needs (task types, models) get an estimate of their own per worker; others share the worker's. */
export const MAX_ESTIMATED_NEEDS = 1024

/**
 * One worker's latency estimates: a peak-EWMA per need (an OCR page and a short embedding are different
 * requests: each is estimated apart), and one over all its requests (what `getWorkers()` reports, and what a
 * need without an index uses). Per-need estimates sit in typed arrays, read in place: selection computes
 * this for every worker of a tier on every request, and must neither allocate nor call further down. The
 * attempt dispatcher writes it; selection reads it.
 */
export class LatencyBook {
  readonly #overall: PeakEwma
  // Allocated at the first sample (16 KiB per worker): estimate (ms, 0 = none) and its `Date.now()` stamp.
  #estimates: Float64Array | null = null
  #stamps: Float64Array | null = null
  #decayMs: number

  constructor(decayMs: number) {
    this.#decayMs = decayMs
    this.#overall = new PeakEwma(decayMs)
  }

  /** A new decay time for every estimate (hot reload). */
  configure(decayMs: number): void {
    this.#decayMs = decayMs
    this.#overall.configure(decayMs)
  }

  /** The estimate in ms for `need` at `now`; 0 while this worker has no sample of it. */
  estimate(need: WorkNeed, now: number): number {
    const index = need.index ?? -1
    if (index < 0 || index >= MAX_ESTIMATED_NEEDS) return this.#overall.estimate(now)
    const estimates = this.#estimates
    if (estimates === null) return 0
    const e = estimates[index] as number
    if (e === 0) return 0
    const dt = now - (this.#stamps as Float64Array)[index]!
    return dt <= 0 ? e : e * Math.exp(-dt / this.#decayMs)
  }

  /** The estimate over all its requests (ms; 0 before any sample). */
  overall(now: number): number {
    return this.#overall.estimate(now)
  }

  /** A request for `need` succeeded after `ms`. */
  observe(need: WorkNeed, ms: number, now: number): void {
    this.#overall.observe(ms, now)
    const i = this.#slot(need)
    if (i < 0) return
    const estimates = this.#estimates as Float64Array
    const stamps = this.#stamps as Float64Array
    estimates[i] = estimateAfterSuccess(estimates[i]!, stamps[i]!, ms, now, this.#decayMs)
    stamps[i] = now
  }

  /** A request for `need` failed against the worker after `ms`: its estimates at least double. */
  penalize(need: WorkNeed, ms: number, now: number): void {
    this.#overall.penalize(ms, now)
    const i = this.#slot(need)
    if (i < 0) return
    const estimates = this.#estimates as Float64Array
    const stamps = this.#stamps as Float64Array
    estimates[i] = estimateAfterFailure(estimates[i]!, stamps[i]!, ms, now, this.#decayMs)
    stamps[i] = now
  }

  /** A request for `need` ran `ms` without an answer, not the worker's fault: a lower bound. */
  atLeast(need: WorkNeed, ms: number, now: number): void {
    this.#overall.atLeast(ms, now)
    const i = this.#slot(need)
    if (i < 0) return
    const estimates = this.#estimates as Float64Array
    const stamps = this.#stamps as Float64Array
    if (ms <= decayedEstimate(estimates[i]!, stamps[i]!, now, this.#decayMs)) return
    estimates[i] = ms
    stamps[i] = now
  }

  /** The need's slot (allocating the arrays at the first sample), or -1 when it has none. */
  #slot(need: WorkNeed): number {
    const index = need.index ?? -1
    if (index < 0 || index >= MAX_ESTIMATED_NEEDS) return -1
    if (this.#estimates === null) {
      this.#estimates = new Float64Array(MAX_ESTIMATED_NEEDS)
      this.#stamps = new Float64Array(MAX_ESTIMATED_NEEDS)
    }
    return index
  }
}
