import { DEADLINE_HEADER } from '@npu-fleet/protocol'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { ErrBadInferRequest } from '../errors.js'

/** Deadline and cancellation of one HTTP request, handed to the scheduler. */
export interface RequestDeadline {
  deadlineMs: number
  signal: AbortSignal
}

/**
 * The request's deadline (the `x-request-timeout-ms` header, else the KServe `timeout` parameter, else the
 * worker default) and a signal aborted when the client disconnects before the reply is written.
 */
export function requestDeadline(
  request: FastifyRequest,
  reply: FastifyReply,
  defaultMs: number,
  parameterMs?: unknown,
): RequestDeadline {
  const header = request.headers[DEADLINE_HEADER]
  let deadlineMs = defaultMs
  if (header !== undefined) {
    const value = Number(header)
    if (!Number.isFinite(value) || value < 1 || Array.isArray(header)) {
      throw new ErrBadInferRequest(
        `${DEADLINE_HEADER}: expected a number of milliseconds, at least 1, got ${JSON.stringify(header)}`,
      )
    }
    deadlineMs = value
  } else if (parameterMs !== undefined) {
    if (typeof parameterMs !== 'number' || !Number.isFinite(parameterMs) || parameterMs < 1) {
      throw new ErrBadInferRequest(
        `parameters.timeout: expected a number of milliseconds, at least 1, got ${JSON.stringify(parameterMs)}`,
      )
    }
    deadlineMs = parameterMs
  }
  const controller = new AbortController()
  // 'close' on the response before it finished means the client went away: drop its queued work.
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) controller.abort()
  })
  return { deadlineMs: Math.min(deadlineMs, 3_600_000), signal: controller.signal }
}
