import type { CircuitState } from '../breaker/circuit-breaker.js'

/** What a task needs from a worker: a task type (`/v1/tasks/{type}`) or a model (`/v2/models/{name}`). */
export interface WorkNeed {
  readonly kind: 'task' | 'model'
  readonly name: string
  /** Small stable number the pool gives each need it routes often (lets workers memoise `serves`); -1 when none. */
  readonly index?: number
}

/** The fields selection reads; `PoolWorker` implements it (tests build plain objects). */
export interface SelectableWorker {
  readonly id: string
  readonly enabled: boolean
  /** 1-10, higher first. */
  readonly priority: number
  /** Requests in flight from this pool. */
  readonly active: number
  readonly maxConcurrent: number
  /** 0 healthy, 1 degraded, -1 down or never checked. */
  readonly healthRank: number
  /** `Date.now()` before which the worker asked not to get traffic (Retry-After); 0 when none. */
  readonly backoffUntil: number
  /** Position of `id` in the sorted ids: ties broken without string compares. */
  readonly idOrder: number
  readonly breaker: { readonly admits: boolean; readonly state: CircuitState }
  serves(need: WorkNeed): boolean
}

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

/**
 * Picks the worker for one request in a single allocation-free pass: eligible (enabled, health up, circuit
 * CLOSED or HALF_OPEN with the probe free, below its concurrency cap, not backing off, serving the need, not
 * already tried), then highest priority, fewest active, healthy before degraded, lowest id. After a miss,
 * {@link miss} says whether waiting can help.
 */
export class WorkerSelector {
  /** Reason of the last miss (meaningful only after `select` returned undefined). */
  miss: SelectionMiss = 'none'

  /** The best eligible worker, or undefined (then read {@link miss}). Reserves nothing. */
  select<W extends SelectableWorker>(
    workers: readonly W[],
    need: WorkNeed,
    now: number,
    exclude: readonly SelectableWorker[] = NO_EXCLUSIONS,
  ): W | undefined {
    let best: W | undefined
    let busy = false
    let tried = false
    let up = false
    for (let i = 0; i < workers.length; i++) {
      const w = workers[i] as W
      if (!w.enabled || w.healthRank < 0 || w.breaker.state === 'open') continue
      up = true
      if (!w.serves(need)) continue
      if (exclude.length > 0 && exclude.includes(w)) {
        tried = true
        continue
      }
      if (w.active >= w.maxConcurrent || !w.breaker.admits || w.backoffUntil > now) {
        busy = true
        continue
      }
      if (best === undefined || better(w, best)) best = w
    }
    if (best === undefined) this.miss = busy ? 'busy' : tried ? 'tried' : up ? 'unsupported' : 'none'
    return best
  }
}

function better(a: SelectableWorker, b: SelectableWorker): boolean {
  if (a.priority !== b.priority) return a.priority > b.priority
  if (a.active !== b.active) return a.active < b.active
  if (a.healthRank !== b.healthRank) return a.healthRank < b.healthRank
  return a.idOrder < b.idOrder
}
