import type { CancelSignal } from './cancel-signal.js'

/** Deadline and cancellation of one request, as every transport hands them to the scheduler. */
export interface RequestDeadline {
  /** Milliseconds from now after which the request fails with 504 (gRPC: DEADLINE_EXCEEDED). */
  deadlineMs: number
  /** Aborted when the client goes away: queued work is dropped, and a slot it held is freed. */
  signal: CancelSignal
}

/** Longest deadline any request gets: an hour (a client asking for more is capped, not refused). */
export const MAX_DEADLINE_MS = 3_600_000

/**
 * The deadline of one request, in ms: the transport's own (the `x-request-timeout-ms` header, a gRPC
 * deadline), else the request's `parameters.timeout`, else the worker default; capped at an hour.
 */
export function requestDeadlineMs(given: {
  transportMs: number | undefined
  parameterMs: number | undefined
  defaultMs: number
}): number {
  return Math.min(given.transportMs ?? given.parameterMs ?? given.defaultMs, MAX_DEADLINE_MS)
}
