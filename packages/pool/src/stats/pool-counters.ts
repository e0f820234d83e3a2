import type { PoolErrorCode } from '../errors.js'

/** One task type's (or model's, or generation route's) counts. */
export interface NeedCounts {
  started: number
  succeeded: number
  /** Failed tasks (after their retries). */
  failed: number
  /** Retries its tasks took (attempts beyond the first). */
  retried: number
}

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
  /** Per routed need (`task:text_analysis`, `chat:tiny-llama-chat`, `model:mlp`): started, succeeded, failed, retried. */
  readonly byNeed = new Map<string, NeedCounts>()

  /** The counts of one need (created on first use). */
  need(key: string): NeedCounts {
    let counts = this.byNeed.get(key)
    if (counts === undefined) {
      counts = { started: 0, succeeded: 0, failed: 0, retried: 0 }
      this.byNeed.set(key, counts)
    }
    return counts
  }

  /** A task failed with `code`. */
  taskFailed(code: PoolErrorCode): void {
    this.failed++
    this.failuresByCode[code] = (this.failuresByCode[code] ?? 0) + 1
  }
}
