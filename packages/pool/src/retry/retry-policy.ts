import { type PoolError, PoolErrorCode } from '../errors.js'
import type { PoolCounters } from '../stats/pool-counters.js'
import type { AttemptOutcome, RetryableOutcome } from './attempt-outcome.js'
import type { RetryBudget } from './retry-budget.js'

/** What one attempt produced: an outcome on a worker, or no worker to try (the leases' verdict). */
export type Attempted<T, W> =
  | { kind: 'attempted'; worker: W; outcome: AttemptOutcome<T> }
  | { kind: 'unavailable'; error: PoolError }

/** How a task ended under the policy. */
export type PolicyResult<T, W> =
  | { kind: 'success'; worker: W; value: T; attempts: number }
  | {
      kind: 'failure'
      code: PoolErrorCode
      message: string
      attempts: number
      details?: Record<string, unknown>
    }

/** The retry settings in force (read per task, so reloads apply). */
export interface RetrySettings {
  maxAttempts: number
  retryBudgetMinRetries: number
  retryBudgetRatio: number
  retryBudgetWindowMs: number
}

/** A failed attempt about to be retried elsewhere (the pool logs it). */
export interface RetryNotice {
  workerId: string
  attempt: number
  outcome: RetryableOutcome
}

/** Settings of {@link RetryPolicy}. */
export interface RetryPolicyOptions {
  settings: () => RetrySettings
  budget: RetryBudget
  counters: PoolCounters
  onRetry: (notice: RetryNotice) => void
}

/** One task as the policy runs it. */
export interface PolicyTask {
  /** `Date.now()` when the task's deadline passes. */
  deadline: number
  /** The task's whole deadline in ms (for messages). */
  timeoutMs: number
  signal: AbortSignal | undefined
}

const NOT_TRIED: readonly never[] = []

/**
 * Retries with failover, as a policy around an attempt function (cockatiel's `RetryPolicy`, undici's retry
 * interceptor): it knows nothing of HTTP or selection. It runs `attempt(tried)` until one succeeds or ends the
 * task; a retryable failure is tried again on a worker not yet tried, up to `max_attempts`, within the task's
 * deadline and under the retry budget (`min_retries + ratio × tasks` per window), so an outage cannot
 * multiply the load on the workers still up.
 */
export class RetryPolicy {
  readonly #options: RetryPolicyOptions

  constructor(options: RetryPolicyOptions) {
    this.#options = options
  }

  /** Runs one task to its end. Never throws for a worker's failure; `attempt` must not throw either. */
  async execute<T, W extends { readonly id: string }>(
    attempt: (tried: readonly W[]) => Promise<Attempted<T, W>>,
    task: PolicyTask,
  ): Promise<PolicyResult<T, W>> {
    const { budget, counters } = this.#options
    const settings = this.#options.settings()
    budget.recordRequest()
    let attempts = 0
    let tried: readonly W[] = NOT_TRIED
    let last: RetryableOutcome | null = null

    for (;;) {
      if (task.signal?.aborted) return failure(attempts, PoolErrorCode.ABORTED, 'aborted by the caller')
      const attempted = await attempt(tried)
      if (attempted.kind === 'unavailable') {
        const e = attempted.error
        // After a failed attempt, "nobody else left" is the end of the retries, with what went wrong last.
        if (last !== null && e.code !== PoolErrorCode.DEADLINE_EXCEEDED && e.code !== PoolErrorCode.ABORTED) {
          return failure(
            attempts,
            PoolErrorCode.RETRIES_EXHAUSTED,
            `${e.message}; last error: ${last.message}`,
            lastDetails(last),
          )
        }
        return failure(attempts, e.code, e.message, last ? lastDetails(last) : undefined)
      }
      attempts++
      const { worker, outcome } = attempted
      switch (outcome.kind) {
        case 'success':
          return { kind: 'success', worker, value: outcome.value, attempts }
        case 'rejected':
          return failure(
            attempts,
            PoolErrorCode.WORKER_REJECTED,
            `worker ${worker.id} refused the request: ${outcome.message}`,
            {
              worker: worker.id,
              status: outcome.status,
              workerCode: outcome.workerCode,
              ...(outcome.details ? { workerDetails: outcome.details } : {}),
            },
          )
        case 'aborted':
          return failure(attempts, PoolErrorCode.ABORTED, 'aborted by the caller')
        case 'deadline':
          return failure(
            attempts,
            PoolErrorCode.DEADLINE_EXCEEDED,
            `deadline of ${task.timeoutMs} ms passed: ${outcome.message}`,
          )
      }
      last = outcome
      counters.failedAttempts++
      tried = tried === NOT_TRIED ? [worker] : [...tried, worker]
      const details = lastDetails(last, worker.id)
      if (attempts >= settings.maxAttempts) {
        return failure(
          attempts,
          PoolErrorCode.RETRIES_EXHAUSTED,
          `all ${attempts} attempts failed; last: ${last.message}`,
          details,
        )
      }
      if (Date.now() >= task.deadline) {
        return failure(
          attempts,
          PoolErrorCode.DEADLINE_EXCEEDED,
          `deadline of ${task.timeoutMs} ms passed; last: ${last.message}`,
          details,
        )
      }
      if (!budget.tryAcquireRetry()) {
        counters.retriesDenied++
        return failure(
          attempts,
          PoolErrorCode.RETRY_BUDGET_EXHAUSTED,
          `retry budget spent (at most ${settings.retryBudgetMinRetries} + ${settings.retryBudgetRatio} × tasks per ${settings.retryBudgetWindowMs / 1000} s); last: ${last.message}`,
          details,
        )
      }
      counters.retries++
      this.#options.onRetry({ workerId: worker.id, attempt: attempts, outcome: last })
    }
  }
}

// A module function, not a closure in `execute`: a closure over `attempts` would be allocated per task, and
// make every read of the counter a context load.
function failure(
  attempts: number,
  code: PoolErrorCode,
  message: string,
  details?: Record<string, unknown>,
): PolicyResult<never, never> {
  return { kind: 'failure', code, message, attempts, ...(details ? { details } : {}) }
}

function lastDetails(last: RetryableOutcome, worker?: string): Record<string, unknown> {
  return {
    ...(worker ? { lastWorker: worker } : {}),
    lastReason: last.reason,
    lastStatus: last.status,
    lastWorkerCode: last.workerCode,
  }
}
