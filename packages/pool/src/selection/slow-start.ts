// Envoy's slow start starts at a minimum weight too (min_weight_percent, 10% by default): never zero.
const MIN_FACTOR = 0.1

/**
 * The ramp of a worker that has just joined, or whose circuit has just closed: over `slow_start_seconds` its
 * share grows linearly from 10% to all of it (Envoy's and HAProxy's slow start). Selection divides its cost
 * by the factor and scales its cap by it, so a just-recompiled NPU model gets a trickle first.
 */
export class SlowStart {
  #since = 0
  #windowMs = 0

  /** Starts a ramp at `now` lasting `windowMs` (0: none). */
  begin(now: number, windowMs: number): void {
    this.#since = now
    this.#windowMs = Math.max(windowMs, 0)
  }

  /** The share at `now`, in (0, 1]; 1 when not ramping. */
  factor(now: number): number {
    if (this.#windowMs === 0) return 1
    const elapsed = now - this.#since
    if (elapsed >= this.#windowMs) {
      this.#windowMs = 0
      return 1
    }
    return Math.max(MIN_FACTOR, elapsed / this.#windowMs)
  }
}
