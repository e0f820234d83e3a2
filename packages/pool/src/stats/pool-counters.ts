import type { PoolErrorCode } from '../errors.js'

/**
 * Pool-wide counters: logical tasks apart from the attempts they sent. Each has one writer: tasks by the pool
 * facade, attempts by the attempt dispatcher, retries by the retry policy, ejection-cap episodes by the pool's
 * circuit and health hooks.
 */
export class PoolCounters {
  started = 0
  succeeded = 0
  failed = 0
  attempts = 0
  failedAttempts = 0
  retries = 0
  retriesDenied = 0
  /** Attempts sent to a worker that was ejected, under the ejection cap. */
  routedWhileEjected = 0
  /** Times a priority tier entered panic. */
  panics = 0
  readonly failuresByCode: Partial<Record<PoolErrorCode, number>> = {}

  /** A task failed with `code`. */
  taskFailed(code: PoolErrorCode): void {
    this.failed++
    this.failuresByCode[code] = (this.failuresByCode[code] ?? 0) + 1
  }
}
