import { CircuitState } from '../breaker/circuit-breaker.js'
import { HealthStanding } from '../health/health-standing.js'
import type { TierPanic } from './ejection-cap.js'
import type { SelectableWorker, WorkNeed } from './selectable-worker.js'

/** Why {@link WorkerSelector.select} found nobody. */
export type SelectionMiss =
  /** Some worker could take it once a slot, the HALF_OPEN probe or a Retry-After frees: wait. */
  | 'busy'
  /** The only workers that could serve it are ones this task already tried. */
  | 'tried'
  /** Workers are up with circuits admitting traffic, but none serves this task type or model. */
  | 'unsupported'
  /** No enabled worker is up with a circuit admitting traffic. */
  | 'none'

const NO_EXCLUSIONS: readonly SelectableWorker[] = []
const NEVER_PANIC: TierPanic = { panicking: () => false }
// Finagle's rule for work without an estimate: a worker with no sample is free while idle (so it gets one
// request, and a sample), and each request in flight whose work is unknown makes it dearer than any measured
// worker, so a cold worker is never piled on before it has answered.
const COLD_PENALTY = 1e9

/**
 * Picks the worker for one request in a single allocation-free pass. Eligible: enabled, in rotation by health
 * and identity, circuit CLOSED or HALF_OPEN with the probe free, below its cap (scaled while it slow-starts) and, for a generation, below the sequences its `/health` admits,
 * not backing off, serving the need, not already tried; in a tier past its ejection cap, also its ejected
 * workers (open circuit, silent health checks). Then: the highest priority; within it the lowest expected
 * completion (below, divided by the slow-start share); then healthy before degraded before ejected; then the
 * lowest id. After a miss, {@link miss} says whether waiting can help.
 *
 * Expected completion generalises Finagle's and Linkerd's peak-EWMA × (in flight + 1) to requests of mixed
 * sizes and to workers that run several at once: the worker's peak-EWMA latency for this kind of request,
 * plus the estimated work of what it already has in flight from this pool (each request's own estimate when
 * it was sent) divided by the inferences it runs at once (its `/health` capacity). With one kind of request
 * on a worker that runs one at a time it is exactly latency × (in flight + 1), with P at once latency ×
 * (in flight / P + 1); with OCR pages and short embeddings mixed, a short request is not queued behind pages
 * because the worker has "few" of them.
 */
export class WorkerSelector {
  /** Reason of the last miss (meaningful only after `select` returned undefined). */
  miss: SelectionMiss = 'none'
  /** True when the last pick is a worker its circuit or health had ejected (routed under the ejection cap). */
  panicked = false
  readonly #cap: TierPanic

  constructor(cap: TierPanic = NEVER_PANIC) {
    this.#cap = cap
  }

  /** The best eligible worker, or undefined (then read {@link miss}). Reserves nothing. */
  select<W extends SelectableWorker>(
    workers: readonly W[],
    need: WorkNeed,
    now: number,
    exclude: readonly SelectableWorker[] = NO_EXCLUSIONS,
  ): W | undefined {
    let best: W | undefined
    let bestCost = -1
    let bestRank = 0
    let busy = false
    let tried = false
    let up = false
    for (let i = 0; i < workers.length; i++) {
      const w = workers[i] as W
      if (!w.enabled) continue
      const standing = w.standing
      if (standing === HealthStanding.OUT) continue
      const state = w.breaker.state
      let ejected = standing === HealthStanding.SILENT || state === CircuitState.OPEN
      if (ejected && !this.#cap.panicking(w.priority)) continue
      up = true
      if (!w.serves(need)) continue
      if (exclude.length > 0 && exclude.includes(w)) {
        tried = true
        continue
      }
      const slots = w.slots
      const share = w.warmup.factor(now)
      const cap =
        share < 1 ? Math.max(1, Math.ceil(slots.maxConcurrentTasks * share)) : slots.maxConcurrentTasks
      if (
        slots.activeTasks >= cap ||
        slots.backoffUntil > now ||
        (w.sequences && !w.sequences.hasRoom(need))
      ) {
        busy = true
        continue
      }
      if (state === CircuitState.HALF_OPEN && !w.breaker.admits) {
        // Its one probe is out: wait for it, unless the tier is in panic.
        if (!this.#cap.panicking(w.priority)) {
          busy = true
          continue
        }
        ejected = true
      }
      if (best !== undefined && w.priority < best.priority) continue
      // One call site for the cost (V8 inlines it, and the double never leaves a register: no allocation).
      const c = cost(w, need, now, share)
      const rank = ejected ? 2 : standing
      if (
        best === undefined ||
        w.priority > best.priority ||
        c < bestCost ||
        (c === bestCost && (rank < bestRank || (rank === bestRank && w.idOrder < best.idOrder)))
      ) {
        best = w
        bestCost = c
        bestRank = rank
        this.panicked = ejected
      }
    }
    if (best === undefined) this.miss = busy ? 'busy' : tried ? 'tried' : up ? 'unsupported' : 'none'
    return best
  }
}

/** Expected completion of a request for `need` on `w` (ms, or past {@link COLD_PENALTY} with unknown work). */
function cost(w: SelectableWorker, need: WorkNeed, now: number, share: number): number {
  const slots = w.slots
  // The work in flight drains `parallelism` requests at a time (Little's law: n in flight at latency L each
  // finish n / L per ms), so the wait ahead of a new request is pendingMs / parallelism; counted as serial,
  // a worker that runs several at once looks busier than it is and traffic spills to slower ones early.
  const load =
    slots.coldInFlight * COLD_PENALTY + slots.pendingMs / w.parallelism + w.latency.estimate(need, now)
  return share < 1 ? load / share : load
}
