import { CircuitState } from '../breaker/circuit-breaker.js'
import { HealthStanding } from '../health/health-standing.js'
import type { SelectableWorker } from './selectable-worker.js'

/** What selection asks the cap: is this tier past its share of ejections? */
export interface TierPanic {
  panicking(priority: number): boolean
}

/** A tier that entered or left panic. */
export interface EjectionChange {
  priority: number
  panicking: boolean
  /** Workers of the tier taken out by open circuits or silent health checks. */
  ejected: number
  /** Workers of the tier that count: enabled, identity holds, not saying themselves they cannot serve. */
  members: number
  /** How many may be out before the tier panics. */
  allowed: number
}

const PRIORITIES = 11 // priorities are 1-10

/**
 * The ejection cap (Envoy's panic threshold, per priority tier): open circuits and health checks that got no
 * answer may take out at most `max_ejection_percent` of a tier (at least one worker, so a tier of one can
 * always be taken out). Past that the tier panics: selection routes to its ejected workers too, as if they
 * were in, because so many going at once says more about the signal (a bad driver rollout, an overloaded
 * health route) than about the workers. Never lifted by panic: `enabled`, the identity check, a worker's own
 * word that it cannot serve, the caps, Retry-After and capabilities. Recounted on every circuit or health
 * change, never per request: selection reads one byte per tier.
 */
export class EjectionCap implements TierPanic {
  readonly #panicking = new Uint8Array(PRIORITIES)
  #maxPercent: number

  constructor(maxPercent: number) {
    this.#maxPercent = maxPercent
  }

  /** A new share (hot reload); takes effect at the next {@link update}. */
  configure(maxPercent: number): void {
    this.#maxPercent = maxPercent
  }

  /** True when the tier is past its share of ejections. */
  panicking(priority: number): boolean {
    return this.#panicking[priority] === 1
  }

  /** Tiers panicking now. */
  tiers(): number[] {
    const out: number[] = []
    for (let p = PRIORITIES - 1; p >= 1; p--) if (this.#panicking[p] === 1) out.push(p)
    return out
  }

  /** Recounts every tier over `workers`; returns the tiers whose panic state changed. */
  update(workers: readonly SelectableWorker[]): EjectionChange[] {
    const members = new Int32Array(PRIORITIES)
    const ejected = new Int32Array(PRIORITIES)
    for (const w of workers) {
      if (!w.enabled || w.standing === HealthStanding.OUT) continue
      members[w.priority]!++
      if (w.standing === HealthStanding.SILENT || w.breaker.state !== CircuitState.CLOSED)
        ejected[w.priority]!++
    }
    const changes: EjectionChange[] = []
    for (let p = 1; p < PRIORITIES; p++) {
      const count = members[p] as number
      const allowed = Math.max(1, Math.floor((count * this.#maxPercent) / 100))
      const out = ejected[p] as number
      const now = out > allowed ? 1 : 0
      if (now === this.#panicking[p]) continue
      this.#panicking[p] = now
      changes.push({ priority: p, panicking: now === 1, ejected: out, members: count, allowed })
    }
    return changes
  }
}
