import { DEADLINE_HEADER } from '@npu-fleet/protocol'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { ErrBadInferRequest } from '../errors.js'
import { ClientGone } from '../scheduler/cancel-signal.js'
import { type RequestDeadline, requestDeadlineMs } from '../scheduler/request-deadline.js'

/**
 * The deadline and cancellation of one HTTP request: the `x-request-timeout-ms` header, else `parameterMs`
 * (KServe `parameters.timeout`), else the worker default; and a signal aborted when the client disconnects
 * before the reply is written. A malformed header is a 400 naming it. The signal is a ClientGone (no
 * AbortController per request, see cancel-signal.ts): the infer routes hand it to the scheduler as it is.
 */
export function httpInferDeadline(
  request: FastifyRequest,
  reply: FastifyReply,
  defaultMs: number,
  parameterMs?: number,
): RequestDeadline & { signal: ClientGone } {
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
  const signal = new ClientGone()
  // 'close' on the response before it finished means the client went away: drop its queued work.
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) signal.abort()
  })
  return { deadlineMs: requestDeadlineMs({ transportMs: headerMs, parameterMs, defaultMs }), signal }
}

/** {@link httpInferDeadline} with an AbortSignal, for the code that takes one (task pipelines, generation). */
export function httpRequestDeadline(
  request: FastifyRequest,
  reply: FastifyReply,
  defaultMs: number,
  parameterMs?: number,
): { deadlineMs: number; signal: AbortSignal } {
  const { deadlineMs, signal } = httpInferDeadline(request, reply, defaultMs, parameterMs)
  return { deadlineMs, signal: signal.asAbortSignal() }
}
