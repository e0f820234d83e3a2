import type { AttemptDispatcher, OpenedStream, StreamCall } from '../dispatch/attempt-dispatcher.js'
import { PoolError, PoolErrorCode, StreamInterruptedError } from '../errors.js'
import type { RetryableOutcome } from '../retry/attempt-outcome.js'
import type { RetryPolicy } from '../retry/retry-policy.js'
import { toTransportError } from '../transport/worker-transport.js'
import type { PoolWorker } from '../workers/pool-worker.js'
import { chunkText, chunkUsage, type GenerationChunk, readEvent } from './stream-chunks.js'

/** What {@link relayStream} needs from the pool. */
export interface RelayParts {
  dispatcher: AttemptDispatcher
  policy: RetryPolicy
  /** The task ended: success, or the failure's code (the pool's counters and log). */
  onEnd: (outcome: StreamEnd) => void
}

/** How a stream ended, for the pool's counters (`attempts`: those sent, retries included). */
export type StreamEnd =
  | { success: true; worker: string; attempts: number }
  | { success: false; code: PoolErrorCode; message: string; attempts: number }

/** One stream as the caller asked for it. */
export interface RelayRequest extends Omit<StreamCall, 'signal'> {
  /** The whole stream's deadline in ms (for messages). */
  timeoutMs: number
  /** The caller's signal. */
  signal: AbortSignal | undefined
}

/**
 * A generation stream through the fleet. Until the first chunk, the attempt is an ordinary one under the retry
 * policy: a worker that fails (gone, a 5xx, silent past the attempt timeout) or turns it away (503 + Retry-After,
 * not held against it) makes it move to another worker, within the retry budget. From the first chunk on
 * nothing is retried, since the caller has seen text: a worker that fails then (its connection lost, silent past
 * `stream_idle_timeout_seconds`, an error event, a broken chunk) ends the iteration with
 * {@link StreamInterruptedError} carrying the text so far and the worker, and the failure counts against it (its
 * circuit hears it). Leaving the loop early (`break`, `return`, a throw in the loop body) or the caller's signal
 * closes the connection, which cancels the generation on the worker and frees its slot there.
 */
export async function* relayStream<C extends GenerationChunk>(
  parts: RelayParts,
  request: RelayRequest,
): AsyncGenerator<C, void, undefined> {
  const controller = new AbortController()
  let deadlinePassed = false
  const onCallerAbort = () => controller.abort()
  request.signal?.addEventListener('abort', onCallerAbort, { once: true })
  if (request.signal?.aborted) controller.abort()
  // One timer per stream (not per token) for the whole deadline: the worker is told it too, and stops there.
  const timer = setTimeout(
    () => {
      deadlinePassed = true
      controller.abort()
    },
    Math.max(1, request.deadline - Date.now()),
  )
  const call: StreamCall = { ...request, signal: controller.signal }
  let opened: OpenedStream<C> | null = null
  let verdict: 'success' | 'failure' | 'neutral' = 'neutral'
  let failure: RetryableOutcome | undefined
  let attempts = 0
  try {
    const result = await parts.policy.execute<OpenedStream<C>, PoolWorker>(
      (tried) => parts.dispatcher.attemptStream<C>(call, tried),
      { deadline: request.deadline, timeoutMs: request.timeoutMs, signal: controller.signal },
    )
    attempts = result.attempts
    if (result.kind === 'failure') {
      const code = deadlinePassed ? PoolErrorCode.DEADLINE_EXCEEDED : result.code
      parts.onEnd({ success: false, code, message: result.message, attempts })
      throw new PoolError(code, result.message, result.details)
    }
    opened = result.value
    const worker = opened.lease.worker
    let text = chunkText(opened.first)
    let tokens = 0
    yield opened.first
    const events = opened.events
    for (;;) {
      // Every event a socket read completed is taken without awaiting: one await per read, not per event.
      let data = events.take()
      if (data === undefined) {
        let more: boolean
        try {
          more = await events.fill()
        } catch (error) {
          if (controller.signal.aborted) throw aborted(deadlinePassed, request.timeoutMs)
          const cause = toTransportError(error, undefined, parts.dispatcher.streamIdleTimeoutMs)
          failure = midStream(
            cause.kind === 'timeout' ? 'timeout' : 'connection',
            cause.kind === 'timeout'
              ? `worker ${worker.id} sent nothing for ${parts.dispatcher.streamIdleTimeoutMs} ms`
              : `worker ${worker.id} failed mid-stream: ${cause.message}`,
            null,
          )
          throw interrupted(failure.message, text, worker, parts)
        }
        if (!more) {
          failure = midStream('connection', `worker ${worker.id} ended the stream without [DONE]`, null)
          throw interrupted(failure.message, text, worker, parts)
        }
        data = events.take() as string
      }
      const event = readEvent<C>(call.kind, data, request.includeUsage)
      if (event.kind === 'done') break
      if (event.kind === 'error') {
        failure = midStream(
          'server_error',
          `worker ${worker.id} failed mid-stream: ${event.message}`,
          event.code,
        )
        throw interrupted(failure.message, text, worker, parts)
      }
      if (event.kind === 'invalid') {
        failure = midStream('bad_response', `worker ${worker.id}: ${event.message}`, null)
        throw interrupted(failure.message, text, worker, parts)
      }
      const chunk = event.chunk
      const usage = chunkUsage(chunk)
      if (usage !== null) {
        tokens = usage.completion_tokens
        if (!request.includeUsage) continue
      } else text += chunkText(chunk)
      yield chunk
    }
    verdict = 'success'
    worker.generation.completed(tokens, performance.now() - opened.firstAt)
    parts.onEnd({ success: true, worker: worker.id, attempts })
  } finally {
    clearTimeout(timer)
    request.signal?.removeEventListener('abort', onCallerAbort)
    if (opened !== null) {
      if (verdict !== 'success') {
        // Closing the connection is how the worker learns nobody reads: it cancels at the next token.
        controller.abort()
        opened.body.destroy()
        if (failure === undefined) {
          const code = deadlinePassed ? PoolErrorCode.DEADLINE_EXCEEDED : PoolErrorCode.ABORTED
          parts.onEnd({ success: false, code, message: 'the stream was left before its end', attempts })
        }
      }
      parts.dispatcher.finishStream(
        opened,
        verdict === 'success' ? 'success' : failure ? 'failure' : 'neutral',
        failure,
      )
    }
  }

  function interrupted(
    message: string,
    text: string,
    worker: PoolWorker,
    p: RelayParts,
  ): StreamInterruptedError {
    verdict = 'failure'
    worker.generation.interrupted()
    p.onEnd({ success: false, code: PoolErrorCode.STREAM_INTERRUPTED, message, attempts })
    return new StreamInterruptedError(message, text, worker.id, {
      reason: failure?.reason,
      workerCode: failure?.workerCode ?? null,
    })
  }
}

function aborted(deadlinePassed: boolean, timeoutMs: number): PoolError {
  return deadlinePassed
    ? new PoolError(PoolErrorCode.DEADLINE_EXCEEDED, `deadline of ${timeoutMs} ms passed mid-stream`)
    : new PoolError(PoolErrorCode.ABORTED, 'aborted by the caller')
}

function midStream(
  reason: RetryableOutcome['reason'],
  message: string,
  workerCode: string | null,
): RetryableOutcome {
  return {
    kind: 'retryable',
    reason,
    message,
    status: 200,
    workerCode,
    countsAgainstWorker: true,
    retryAfterMs: null,
    recheckHealth: false,
  }
}
