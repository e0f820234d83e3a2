/** Every stable failure code the pool produces; callers match on `code`, never on message text. */
export const PoolErrorCode = {
  /** The worker config (YAML file, object or `NPU_WORKER_URL`) is invalid; the message names the field. */
  CONFIG_INVALID: 'POOL_ERR_CONFIG_INVALID',
  /** `executeTask`/`infer` before `initialize()` finished. */
  NOT_INITIALIZED: 'POOL_ERR_NOT_INITIALIZED',
  /** The pool was closed. */
  CLOSED: 'POOL_ERR_CLOSED',
  /** A task type, model name or option is malformed; nothing was sent. */
  BAD_ARGUMENT: 'POOL_ERR_BAD_ARGUMENT',
  /** No enabled worker is healthy with a circuit that admits traffic. */
  NO_WORKERS: 'POOL_ERR_NO_WORKERS',
  /** Workers are up, but none serves this task type or model (per their `/health` capabilities). */
  UNSUPPORTED: 'POOL_ERR_UNSUPPORTED',
  /** Every eligible worker is full and the bounded wait queue is full too. */
  QUEUE_FULL: 'POOL_ERR_QUEUE_FULL',
  /** The task's deadline passed (waiting, or on the last attempt). */
  DEADLINE_EXCEEDED: 'POOL_ERR_DEADLINE_EXCEEDED',
  /** The caller's AbortSignal fired. */
  ABORTED: 'POOL_ERR_ABORTED',
  /** A worker refused the request as bad input (4xx); not retried, not held against the worker. */
  WORKER_REJECTED: 'POOL_ERR_WORKER_REJECTED',
  /** Every attempt failed with a retryable error, or no other worker was left to try. */
  RETRIES_EXHAUSTED: 'POOL_ERR_RETRIES_EXHAUSTED',
  /** A retry was needed but the retry budget (extra load cap) is spent. */
  RETRY_BUDGET_EXHAUSTED: 'POOL_ERR_RETRY_BUDGET_EXHAUSTED',
  /** `NpuTaskQueue`: the queue is at its bound. */
  TASK_QUEUE_FULL: 'POOL_ERR_TASK_QUEUE_FULL',
  /** `NpuTaskQueue`: the task's deadline passed while it waited or ran. */
  TASK_TIMEOUT: 'POOL_ERR_TASK_TIMEOUT',
  /** Admin routes: missing or wrong bearer token. */
  UNAUTHORIZED: 'POOL_ERR_UNAUTHORIZED',
  /** Admin routes: no configured worker has that id. */
  WORKER_NOT_FOUND: 'POOL_ERR_WORKER_NOT_FOUND',
  /**
   * A stream failed after its first chunk reached the caller (worker gone, stalled past
   * `stream_idle_timeout_seconds`, an error event): never retried, since the caller has seen text. A
   * {@link StreamInterruptedError} carrying the text so far and the worker id.
   */
  STREAM_INTERRUPTED: 'POOL_ERR_STREAM_INTERRUPTED',
  /** A bug in the pool surfaced as an error; the log has the stack. Never expected. */
  INTERNAL: 'POOL_ERR_INTERNAL',
} as const

/** One of the stable `POOL_ERR_*` codes. */
export type PoolErrorCode = (typeof PoolErrorCode)[keyof typeof PoolErrorCode]

/** An error with a stable `POOL_ERR_*` code and optional structured details. */
export class PoolError extends Error {
  override readonly name = 'PoolError'

  constructor(
    readonly code: PoolErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message)
  }
}

/** True when `error` is a {@link PoolError} (matched on `code`, so it works across copies of the package). */
export function isPoolError(error: unknown): error is PoolError {
  return (
    typeof error === 'object' &&
    error !== null &&
    typeof (error as { code?: unknown }).code === 'string' &&
    (error as { code: string }).code.startsWith('POOL_ERR_')
  )
}

/** `POOL_ERR_STREAM_INTERRUPTED`: what a stream had delivered when its worker failed, and which worker it was. */
export class StreamInterruptedError extends PoolError {
  constructor(
    message: string,
    /** The text of every chunk the caller received, concatenated. */
    readonly partialText: string,
    /** The worker the stream ran on. */
    readonly workerId: string,
    details: Record<string, unknown> = {},
  ) {
    super(PoolErrorCode.STREAM_INTERRUPTED, message, { ...details, workerId, partialText })
  }
}
