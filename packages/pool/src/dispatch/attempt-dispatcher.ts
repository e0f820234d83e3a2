import type { LoadBalancingConfig } from '../config/pool-config.js'
import type { PoolError } from '../errors.js'
import { type AttemptOutcome, classifyResponse, classifyTransportError } from '../retry/attempt-outcome.js'
import type { Attempted } from '../retry/retry-policy.js'
import type { Lease, RoutedNeed, WorkerLeases } from '../selection/worker-leases.js'
import type { PoolCounters } from '../stats/pool-counters.js'
import type { QueueWaits } from '../stats/queue-waits.js'
import type { EncodedBody } from '../transport/binary-tensors.js'
import { TransportError, type TransportResponse } from '../transport/worker-transport.js'
import type { PoolWorker } from '../workers/pool-worker.js'

/** Checks a 2xx body against the route's protocol schema: the value, or null when it does not match. */
export type Validate<T> = (body: unknown, response?: TransportResponse) => T | null

/** One call as every attempt of it sees it. */
export interface DispatchCall<T> {
  need: RoutedNeed
  body: string | EncodedBody
  validate: Validate<T>
  /** `Date.now()` when the task's deadline passes. */
  deadline: number
  signal: AbortSignal | undefined
  /** Arrival order (a retry keeps its task's, so it waits first). */
  seq: number
}

/** Settings of {@link AttemptDispatcher}. */
export interface AttemptDispatcherOptions {
  leases: WorkerLeases<PoolWorker>
  settings: () => LoadBalancingConfig
  counters: PoolCounters
  /** Where the time each attempt waited for a slot goes. */
  waits: QueueWaits
  /** Re-checks a worker's health now (its state or capabilities changed under us). */
  recheck: (worker: PoolWorker) => void
}

/**
 * One attempt of a call, end to end: a slot from the leases (at once when a worker has room, else after
 * waiting), the request on that worker's transport with the time left, the answer classified, and the
 * outcome written where it belongs (the worker's counters and latency estimate, the breaker through the
 * lease, Retry-After back-off, a health re-check). The retry policy composes attempts; this is one.
 */
export class AttemptDispatcher {
  readonly #options: AttemptDispatcherOptions

  constructor(options: AttemptDispatcherOptions) {
    this.#options = options
  }

  /** One attempt on a worker not in `tried`, or why no worker could be had. Never throws. */
  async attempt<T>(call: DispatchCall<T>, tried: readonly PoolWorker[]): Promise<Attempted<T, PoolWorker>> {
    const { leases } = this.#options
    // Synchronous when a worker has room (the common case): no promise for the slot.
    let lease = leases.tryAcquire(call.need, tried)
    if (lease === undefined) {
      const t0 = performance.now()
      try {
        lease = await leases.acquire(call.need, tried, call.deadline, call.signal, call.seq)
      } catch (error) {
        return { kind: 'unavailable', error: error as PoolError }
      }
      this.#options.waits.observe(call.need, (performance.now() - t0) / 1000)
    } else {
      this.#options.waits.observe(call.need, 0)
    }
    return { kind: 'attempted', worker: lease.worker, outcome: await this.#send(lease, call) }
  }

  async #send<T>(lease: Lease<PoolWorker>, call: DispatchCall<T>): Promise<AttemptOutcome<T>> {
    const { worker } = lease
    const { leases, counters } = this.#options
    const attemptTimeoutMs = this.#options.settings().attemptTimeoutMs
    const remaining = call.deadline - Date.now()
    const deadlineLimited = remaining < attemptTimeoutMs
    const timeoutMs = deadlineLimited ? Math.max(1, remaining) : attemptTimeoutMs
    worker.traffic.sent(lease.panic)
    counters.attempts++
    if (lease.panic) counters.routedWhileEjected++
    const t0 = performance.now()
    let outcome: AttemptOutcome<T>
    try {
      const response = await worker.transport.post(
        worker.entry.basePath + call.need.path,
        call.body,
        timeoutMs,
        call.signal,
        worker.health.trusted,
      )
      outcome = classifyResponse(response, call.validate, Date.now())
    } catch (error) {
      outcome = classifyTransportError(
        error instanceof TransportError
          ? error
          : new TransportError('connection', (error as Error).message, error),
        deadlineLimited,
      )
    }
    const ms = performance.now() - t0
    const now = Date.now()
    switch (outcome.kind) {
      case 'success':
        worker.traffic.succeeded(ms)
        worker.latency.observe(call.need, ms, now)
        leases.release(lease, 'success')
        break
      case 'retryable':
        // Any failure makes the worker look slower, never faster: fast 5xx or 503s must not attract traffic.
        worker.latency.penalize(call.need, ms, now)
        if (outcome.countsAgainstWorker) {
          worker.traffic.failed(outcome.reason, outcome.workerCode)
          leases.release(lease, 'failure')
        } else {
          worker.traffic.deferred(outcome.reason, outcome.workerCode)
          leases.release(lease, 'neutral')
        }
        if (outcome.retryAfterMs !== null) leases.backOff(worker, now + outcome.retryAfterMs)
        if (outcome.recheckHealth) this.#options.recheck(worker)
        break
      case 'rejected':
        worker.traffic.rejected(outcome.workerCode)
        leases.release(lease, 'neutral')
        break
      case 'deadline':
        // The caller's short deadline, not the worker's fault, but the worker took at least this long.
        worker.latency.atLeast(call.need, ms, now)
        leases.release(lease, 'neutral')
        break
      default:
        leases.release(lease, 'neutral')
    }
    return outcome
  }
}
