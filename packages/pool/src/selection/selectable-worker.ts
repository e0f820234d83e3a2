import type { BreakerPermit, CircuitState } from '../breaker/circuit-breaker.js'
import type { HealthStanding } from '../health/health-standing.js'
import type { SequenceSlots } from './sequence-slots.js'
import type { TaskSlots } from './task-slots.js'

/** What a task needs from a worker: a task type (`/v1/tasks/{type}`) or a model (`/v2/models/{name}`). */
export interface WorkNeed {
  readonly kind: 'task' | 'model'
  readonly name: string
  /**
   * A task whose input names its language model (`model` / `model_id`): the worker must list that model as
   * ready too, so a worker without it is never sent the task (its 404 then means its list went stale).
   */
  readonly model?: string
  /** Small stable number the pool gives each need it routes often (lets workers memoise `serves`); -1 when none. */
  readonly index?: number
  /**
   * Set when the request holds a generation sequence on the worker for its whole answer: the language model's
   * name, or `*` (a text task on the worker's default model). Selection then also asks {@link SelectableWorker.sequences}.
   */
  readonly sequenceModel?: string
}

/** The breaker as selection reads it. */
export interface SelectableBreaker {
  readonly state: CircuitState
  /** True when a request may take a slot now (CLOSED, or HALF_OPEN with its probe free). */
  readonly admits: boolean
}

/** The fields selection reads, each owned elsewhere; `PoolWorker` implements it (tests build plain objects). */
export interface SelectableWorker {
  readonly id: string
  readonly enabled: boolean
  /** 1-10, higher first. */
  readonly priority: number
  /** Position of `id` in the sorted ids: ties broken without string compares. */
  readonly idOrder: number
  /** Routing standing from health and identity ({@link HealthStanding}). */
  readonly standing: HealthStanding
  readonly breaker: SelectableBreaker
  /** Its cap, what it has in flight from this pool (count and expected work), and its Retry-After. */
  readonly slots: Pick<
    TaskSlots,
    'maxConcurrentTasks' | 'activeTasks' | 'pendingMs' | 'coldInFlight' | 'backoffUntil'
  >
  /**
   * Inferences the worker runs at once (its `/health` `load.capacity`; 1 while unknown): the work in flight on
   * it drains that many at a time.
   */
  readonly parallelism: number
  /** Room for generation sequences under the worker's own admission limits (absent: no limit known). */
  readonly sequences?: { hasRoom(need: WorkNeed): boolean }
  /** Peak-EWMA latency (ms) of a request for `need` on it, decayed to `now`; 0 while there is no sample. */
  readonly latency: { estimate(need: WorkNeed, now: number): number }
  /** Slow-start share in (0, 1]: 1 when not ramping. */
  readonly warmup: { factor(now: number): number }
  /** True when its last /health listed the task type or the model as ready. */
  serves(need: WorkNeed): boolean
}

/** What a lease holds on a worker: its slots and its breaker permits (`PoolWorker` implements it). */
export interface LeaseWorker extends SelectableWorker {
  readonly breaker: SelectableBreaker & {
    acquire(): BreakerPermit | null
    bypass(): BreakerPermit
    recordSuccess(permit: BreakerPermit): void
    recordFailure(permit: BreakerPermit): void
    release(permit: BreakerPermit): void
  }
  readonly slots: TaskSlots
  readonly sequences?: SequenceSlots
}
