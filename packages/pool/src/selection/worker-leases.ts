import type { BreakerPermit } from '../breaker/circuit-breaker.js'
import { PoolError, PoolErrorCode } from '../errors.js'
import type { WaitEntry, WaitList } from '../wait/wait-queue.js'
import { WaitQueue } from '../wait/wait-queue.js'
import type { TierPanic } from './ejection-cap.js'
import type { LeaseWorker, WorkNeed } from './selectable-worker.js'
import { type SelectionMiss, WorkerSelector } from './worker-selector.js'

/** A need as the pool caches it: what to select by, which wait list, which path to call. */
export interface RoutedNeed extends WorkNeed {
  /** Wait-list key (`task:ocr`, `model:mlp`). */
  readonly key: string
  /** Path after the worker's base path (`/v1/tasks/ocr`, `/v2/models/mlp/infer`). */
  readonly path: string
}

/** A reserved slot on one worker: counted in its slots, and the breaker permit that came with it. */
export interface Lease<W extends LeaseWorker = LeaseWorker> {
  readonly worker: W
  readonly permit: BreakerPermit
  /** True when the worker was ejected (circuit or silent health) and routed to under the ejection cap. */
  readonly panic: boolean
  /** The worker's latency estimate for this need when the slot was taken (0: none): its share of the pending work. */
  readonly expectedMs: number
  /** What the slot was taken for (a generation also holds one of the worker's sequences). */
  readonly need: WorkNeed
}

/** How an attempt ended, for the breaker. */
export type LeaseVerdict = 'success' | 'failure' | 'neutral'

/** Settings of {@link WorkerLeases}. */
export interface WorkerLeasesOptions<W extends LeaseWorker> {
  /** Bound of the wait queue (read on every enqueue, so reloads apply). */
  maxQueued: () => number
  /** True when the worker's last health check is too old to route by. */
  isStale: (worker: W, now: number) => boolean
  /** Runs (or joins) an on-demand health check. */
  check: (worker: W) => Promise<void>
  /** The ejection cap selection consults (default: never panics). */
  cap?: TierPanic
}

class Waiter<W extends LeaseWorker> implements WaitEntry {
  prev: WaitEntry | null = null
  next: WaitEntry | null = null
  list: WaitList | null = null
  timer: NodeJS.Timeout | null = null
  onAbort: (() => void) | null = null
  resolve!: (lease: Lease<W>) => void
  reject!: (error: PoolError) => void

  constructor(
    readonly key: string,
    readonly seq: number,
    readonly need: RoutedNeed,
    readonly tried: readonly W[],
    readonly signal: AbortSignal | undefined,
    readonly since: number,
  ) {}
}

// How far past a head blocked only by its own tried-list the pump looks for a waiter that fits.
const MAX_SKIPPED = 32

/**
 * Hands out worker slots: selects at once when a worker has room; otherwise, when waiting can help (every
 * eligible worker is full, probing or backing off), parks the task in a bounded FIFO with its deadline and
 * hands it the next slot that frees. Never overloads a worker beyond `max_concurrent_tasks`.
 */
export class WorkerLeases<W extends LeaseWorker = LeaseWorker> {
  /** The workers selection runs over (replaced on reload). */
  workers: readonly W[] = []
  readonly #selector: WorkerSelector
  readonly #queue = new WaitQueue()
  readonly #options: WorkerLeasesOptions<W>
  /** Wakes waiting tasks when a worker's Retry-After ends. */
  readonly #backoffTimers = new Map<W, NodeJS.Timeout>()
  #pumping = false
  #pumpAgain = false

  constructor(options: WorkerLeasesOptions<W>) {
    this.#options = options
    this.#selector = new WorkerSelector(options.cap)
  }

  /** Tasks waiting for a slot. */
  get waiting(): number {
    return this.#queue.size
  }

  /**
   * The synchronous fast path: a slot at once when an eligible worker has room and fresh health, else
   * undefined (then call {@link acquire}). Saves a promise per request when the fleet is not saturated.
   * `now`: the caller's `Date.now()` of this same turn, when it has one.
   */
  tryAcquire(need: RoutedNeed, tried: readonly W[], now: number = Date.now()): Lease<W> | undefined {
    const worker = this.#selector.select(this.workers, need, now, tried)
    if (worker === undefined || this.#options.isStale(worker, now)) return undefined
    return reserve(worker, need, now, this.#selector.panicked)
  }

  /**
   * A slot for `need` on a worker not in `tried`. Rejects with a {@link PoolError}: `NO_WORKERS`,
   * `UNSUPPORTED`, `RETRIES_EXHAUSTED` (only tried workers could serve it), `QUEUE_FULL`, `DEADLINE_EXCEEDED`
   * or `ABORTED`.
   */
  async acquire(
    need: RoutedNeed,
    tried: readonly W[],
    deadline: number,
    signal: AbortSignal | undefined,
    seq: number,
  ): Promise<Lease<W>> {
    for (let round = 0; ; round++) {
      const now = Date.now()
      const worker = this.#selector.select(this.workers, need, now, tried)
      if (worker !== undefined) {
        // On-demand check before routing by an old verdict (single-flight; at most twice per call).
        if (round < 2 && this.#options.isStale(worker, now)) {
          await this.#options.check(worker)
          continue
        }
        return reserve(worker, need, now, this.#selector.panicked)
      }
      const miss = this.#selector.miss
      if (miss !== 'busy') {
        // Nobody usable by what we last heard: if some verdicts are old, ask again before giving up.
        if (round < 2) {
          const stale = this.workers.filter((w) => w.enabled && this.#options.isStale(w, now))
          if (stale.length > 0) {
            await Promise.all(stale.map((w) => this.#options.check(w)))
            continue
          }
        }
        throw missError(miss, need)
      }
      if (this.#queue.size >= this.#options.maxQueued()) {
        throw new PoolError(
          PoolErrorCode.QUEUE_FULL,
          `every eligible worker for ${describe(need)} is full and ${this.#queue.size} tasks already wait`,
        )
      }
      return this.#wait(need, tried, deadline, signal, seq, tried.length > 0)
    }
  }

  /** Returns a slot: the worker's count drops, the breaker hears the verdict, and a waiting task may take it. */
  release(lease: Lease<W>, verdict: LeaseVerdict): void {
    const { worker, permit } = lease
    worker.slots.give(lease.expectedMs)
    worker.sequences?.give(lease.need)
    if (verdict === 'success') worker.breaker.recordSuccess(permit)
    else if (verdict === 'failure') worker.breaker.recordFailure(permit)
    else worker.breaker.release(permit)
    this.pump()
  }

  /** Keeps `worker` out of selection until `until` (Retry-After), then wakes waiting tasks. */
  backOff(worker: W, until: number): void {
    if (!worker.slots.backOff(until)) return
    const previous = this.#backoffTimers.get(worker)
    if (previous) clearTimeout(previous)
    const timer = setTimeout(
      () => {
        this.#backoffTimers.delete(worker)
        this.pump()
      },
      Math.max(1, until - Date.now()),
    )
    timer.unref()
    this.#backoffTimers.set(worker, timer)
  }

  /** Drops the worker's back-off timer (it was removed, or the pool is closing). */
  forget(worker: W): void {
    const timer = this.#backoffTimers.get(worker)
    if (timer) clearTimeout(timer)
    this.#backoffTimers.delete(worker)
  }

  /** Gives free slots to waiting tasks, oldest first per task type or model; fails those nobody can ever serve. */
  pump(): void {
    if (this.#queue.size === 0) return
    if (this.#pumping) {
      this.#pumpAgain = true
      return
    }
    this.#pumping = true
    try {
      do {
        this.#pumpAgain = false
        const now = Date.now()
        for (const list of this.#queue.lists()) this.#pumpList(list, now)
      } while (this.#pumpAgain && this.#queue.size > 0)
    } finally {
      this.#pumping = false
    }
  }

  /** Fails every waiting task with `error` (pool closing). */
  rejectAll(error: PoolError): void {
    for (const list of this.#queue.lists()) {
      for (let entry = list.head as Waiter<W> | null; entry !== null; ) {
        const next = entry.next as Waiter<W> | null
        this.#settle(entry)
        entry.reject(error)
        entry = next
      }
    }
  }

  #pumpList(list: WaitList, now: number): void {
    let skipped = 0
    let entry = list.head as Waiter<W> | null
    while (entry !== null && skipped < MAX_SKIPPED) {
      const next = entry.next as Waiter<W> | null
      const worker = this.#selector.select(this.workers, entry.need, now, entry.tried)
      if (worker !== undefined) {
        this.#settle(entry)
        entry.resolve(reserve(worker, entry.need, now, this.#selector.panicked))
      } else if (this.#selector.miss === 'busy') {
        // Without a tried-list this head sees exactly what everyone behind it sees: nothing is free.
        if (entry.tried.length === 0) return
        skipped++
      } else {
        this.#settle(entry)
        entry.reject(missError(this.#selector.miss, entry.need))
      }
      entry = next
    }
  }

  #wait(
    need: RoutedNeed,
    tried: readonly W[],
    deadline: number,
    signal: AbortSignal | undefined,
    seq: number,
    front: boolean,
  ): Promise<Lease<W>> {
    return new Promise<Lease<W>>((resolve, reject) => {
      const waiter = new Waiter<W>(need.key, seq, need, tried, signal, Date.now())
      waiter.resolve = resolve
      waiter.reject = reject
      if (signal) {
        if (signal.aborted) {
          reject(new PoolError(PoolErrorCode.ABORTED, 'aborted by the caller'))
          return
        }
        waiter.onAbort = () => {
          if (this.#settle(waiter))
            reject(new PoolError(PoolErrorCode.ABORTED, 'aborted by the caller while waiting'))
        }
        signal.addEventListener('abort', waiter.onAbort, { once: true })
      }
      waiter.timer = setTimeout(
        () => {
          if (this.#settle(waiter)) {
            reject(
              new PoolError(
                PoolErrorCode.DEADLINE_EXCEEDED,
                `deadline passed after waiting ${Date.now() - waiter.since} ms for a free worker for ${describe(need)}`,
              ),
            )
          }
        },
        Math.max(0, deadline - Date.now()),
      )
      // Retries already waited once: they go first.
      this.#queue.push(waiter, front)
    })
  }

  /** Takes the waiter out of the queue and drops its timer and listener; false if it already left. */
  #settle(waiter: Waiter<W>): boolean {
    if (!this.#queue.remove(waiter)) return false
    if (waiter.timer) clearTimeout(waiter.timer)
    if (waiter.onAbort) waiter.signal?.removeEventListener('abort', waiter.onAbort)
    return true
  }
}

function reserve<W extends LeaseWorker>(worker: W, need: WorkNeed, now: number, panic: boolean): Lease<W> {
  // Selection checked the breaker in this same synchronous turn: a permit is there, or the ejection cap lets
  // the request past the circuit.
  const permit = worker.breaker.acquire() ?? (panic ? worker.breaker.bypass() : null)
  if (permit === null) throw new Error(`internal: worker ${worker.id} selected without a breaker permit`)
  const expectedMs = worker.latency.estimate(need, now)
  worker.slots.take(expectedMs)
  worker.sequences?.take(need)
  return { worker, permit, panic, expectedMs, need }
}

function describe(need: WorkNeed): string {
  if (need.kind === 'model') return `model "${need.name}"`
  return need.model === undefined
    ? `task type "${need.name}"`
    : `task type "${need.name}" with model "${need.model}"`
}

function missError(miss: SelectionMiss, need: WorkNeed): PoolError {
  switch (miss) {
    case 'tried':
      return new PoolError(
        PoolErrorCode.RETRIES_EXHAUSTED,
        `no other worker left to try for ${describe(need)}`,
      )
    case 'unsupported':
      return new PoolError(PoolErrorCode.UNSUPPORTED, `no available worker serves ${describe(need)}`)
    default:
      return new PoolError(
        PoolErrorCode.NO_WORKERS,
        `no worker available for ${describe(need)}: none is enabled, healthy and with a closed circuit`,
      )
  }
}
