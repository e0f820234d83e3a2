import { DEADLINE_HEADER } from '@npu-fleet/protocol'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { ErrBadInferRequest } from '../errors.js'
import { type RequestDeadline, requestDeadlineMs } from '../scheduler/request-deadline.js'

/**
 * The deadline and cancellation of one HTTP request: the `x-request-timeout-ms` header, else `parameterMs`
 * (KServe `parameters.timeout`), else the worker default; and a signal aborted when the client disconnects
 * before the reply is written. A malformed header is a 400 naming it.
 */
export function httpRequestDeadline(
  request: FastifyRequest,
  reply: FastifyReply,
  defaultMs: number,
  parameterMs?: number,
): RequestDeadline {
  const header = request.headers[DEADLINE_HEADER]
  let headerMs: number | undefined
  if (header !== undefined) {
    const value = Number(header)
    if (!Number.isFinite(value) || value < 1 || Array.isArray(header)) {
      throw new ErrBadInferRequest(
        `${DEADLINE_HEADER}: expected a number of milliseconds, at least 1, got ${JSON.stringify(header)}`,
      )
    }
    headerMs = value
  }
  const controller = new AbortController()
  // 'close' on the response before it finished means the client went away: drop its queued work.
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) controller.abort()
  })
  return {
    deadlineMs: requestDeadlineMs({ transportMs: headerMs, parameterMs, defaultMs }),
    signal: controller.signal,
  }
}
