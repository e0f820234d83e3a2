import { ErrorBodySchema, OpenAiErrorBodySchema, WorkerErrorCode } from '@npu-fleet/protocol'
import type { TransportError, TransportResponse } from '../transport/worker-transport.js'
import { parseRetryAfter } from './retry-after.js'

/** Why an attempt failed in a way another worker may not. */
export type RetryReason =
  /** Connection refused, reset, closed: no HTTP answer. */
  | 'connection'
  /** No answer within the attempt timeout (or the worker's own 504/408). */
  | 'timeout'
  /** 5xx other than back-pressure. */
  | 'server_error'
  /** 429 or 503 queue-full: the worker is fine but busy; Retry-After is honoured. */
  | 'overloaded'
  /** 503 starting/draining/model not ready: not a task failure, the worker's health is re-checked. */
  | 'not_serving'
  /** 404 task/model not found on a worker whose /health listed it: capabilities are re-read. */
  | 'capability'
  /** 2xx that does not match the protocol, or not JSON. */
  | 'bad_response'

/** A failed attempt that may succeed elsewhere. */
export interface RetryableOutcome {
  kind: 'retryable'
  reason: RetryReason
  message: string
  status: number | null
  /** The worker's `NPU_ERR_*` code when it sent one. */
  workerCode: string | null
  /** True when the failure is the worker's fault and counts toward opening its circuit. */
  countsAgainstWorker: boolean
  /** Back-pressure: keep this worker out of selection for this long (ms), or null. */
  retryAfterMs: number | null
  /** Re-check this worker's /health soon (its state or capabilities changed). */
  recheckHealth: boolean
}

/** A 4xx that says the request itself is wrong: returned at once, never retried, not the worker's fault. */
export interface RejectedOutcome {
  kind: 'rejected'
  status: number
  message: string
  workerCode: string | null
  details: Record<string, unknown> | null
}

/** The result of one attempt on one worker. */
export type AttemptOutcome<T> =
  | { kind: 'success'; value: T }
  | RejectedOutcome
  | RetryableOutcome
  /** The caller's signal fired. */
  | { kind: 'aborted' }
  /** The task's own deadline (shorter than the attempt timeout) passed: not the worker's fault. */
  | { kind: 'deadline'; message: string }

// Back-pressure without a Retry-After: stay away briefly rather than hammering the worker.
const DEFAULT_BACKOFF_MS = 1000

/**
 * Classifies a worker's HTTP answer. `validate` checks a 2xx body against the route's protocol schema and
 * returns the value, or null when it does not match. `now` (`Date.now`) dates a Retry-After: read only for
 * an answer that is not a 2xx, so a success costs no clock reading.
 */
export function classifyResponse<T>(
  response: TransportResponse,
  validate: (body: unknown, response: TransportResponse) => T | null,
  now: () => number,
): AttemptOutcome<T> {
  const { status } = response
  let body: unknown
  let json = true
  try {
    body = JSON.parse(response.text)
  } catch {
    json = false
  }
  if (status >= 200 && status < 300) {
    const value = json ? validate(body, response) : null
    if (value !== null) return { kind: 'success', value }
    return retryable(
      'bad_response',
      `HTTP ${status} with a body that does not match the protocol`,
      status,
      null,
      {
        countsAgainstWorker: true,
      },
    )
  }
  const error = json ? workerError(body) : null
  const workerCode = error?.code ?? null
  const message = error?.message ?? `HTTP ${status}${json ? '' : ' (body is not JSON)'}`
  const retryAfterMs = parseRetryAfter(response.headers['retry-after'], now())

  if (status === 429) {
    return retryable('overloaded', message, status, workerCode, {
      retryAfterMs: retryAfterMs ?? DEFAULT_BACKOFF_MS,
    })
  }
  if (status === 503) {
    if (workerCode === WorkerErrorCode.QUEUE_FULL || (workerCode === null && retryAfterMs !== null)) {
      return retryable('overloaded', message, status, workerCode, {
        retryAfterMs: retryAfterMs ?? DEFAULT_BACKOFF_MS,
      })
    }
    if (workerCode === WorkerErrorCode.NOT_SERVING || workerCode === WorkerErrorCode.MODEL_NOT_READY) {
      return retryable('not_serving', message, status, workerCode, {
        retryAfterMs: retryAfterMs ?? DEFAULT_BACKOFF_MS,
        recheckHealth: true,
      })
    }
    return retryable('server_error', message, status, workerCode, { countsAgainstWorker: true, retryAfterMs })
  }
  if (status === 504 || status === 408) {
    return retryable('timeout', message, status, workerCode, { countsAgainstWorker: true })
  }
  if (status >= 500)
    return retryable('server_error', message, status, workerCode, { countsAgainstWorker: true })
  if (
    status === 404 &&
    (workerCode === WorkerErrorCode.TASK_NOT_FOUND || workerCode === WorkerErrorCode.MODEL_NOT_FOUND)
  ) {
    // Selection only sends where /health listed the task or model, so this worker's list is stale.
    return retryable('capability', message, status, workerCode, { recheckHealth: true })
  }
  if (status >= 400) {
    return {
      kind: 'rejected',
      status,
      message,
      workerCode,
      details: error?.details ?? null,
    }
  }
  return retryable('bad_response', `unexpected HTTP ${status}`, status, workerCode, {
    countsAgainstWorker: true,
  })
}

/** A worker's error body in either of its shapes: the task and KServe routes', or the OpenAI routes' (`param` as details). */
export function workerError(
  body: unknown,
): { code: string; message: string; details: Record<string, unknown> | null } | null {
  const plain = ErrorBodySchema.safeParse(body)
  if (plain.success)
    return { code: plain.data.code, message: plain.data.error, details: plain.data.details ?? null }
  const openAi = OpenAiErrorBodySchema.safeParse(body)
  if (!openAi.success) return null
  const { code, message, param } = openAi.data.error
  return { code, message, details: param === null ? null : { param } }
}

/** Classifies a request that got no HTTP answer. */
export function classifyTransportError(
  error: TransportError,
  deadlineLimited: boolean,
): AttemptOutcome<never> {
  if (error.kind === 'aborted') return { kind: 'aborted' }
  if (error.kind === 'timeout') {
    // A timeout set by the caller's short deadline says nothing about the worker.
    if (deadlineLimited) return { kind: 'deadline', message: error.message }
    return retryable('timeout', error.message, null, null, { countsAgainstWorker: true })
  }
  return retryable('connection', error.message, null, null, { countsAgainstWorker: true })
}

function retryable(
  reason: RetryReason,
  message: string,
  status: number | null,
  workerCode: string | null,
  extra: { countsAgainstWorker?: boolean; retryAfterMs?: number | null; recheckHealth?: boolean },
): RetryableOutcome {
  return {
    kind: 'retryable',
    reason,
    message,
    status,
    workerCode,
    countsAgainstWorker: extra.countsAgainstWorker ?? false,
    retryAfterMs: extra.retryAfterMs ?? null,
    recheckHealth: extra.recheckHealth ?? false,
  }
}
