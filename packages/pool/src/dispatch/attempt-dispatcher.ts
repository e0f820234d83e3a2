import type { LoadBalancingConfig } from '../config/pool-config.js'
import type { PoolError } from '../errors.js'
import { type GenerationChunk, readEvent, type StreamEvent } from '../generation/stream-chunks.js'
import {
  type AttemptOutcome,
  classifyResponse,
  classifyTransportError,
  type RetryableOutcome,
} from '../retry/attempt-outcome.js'
import type { Attempted } from '../retry/retry-policy.js'
import type { Lease, LeaseVerdict, RoutedNeed, WorkerLeases } from '../selection/worker-leases.js'
import type { PoolCounters } from '../stats/pool-counters.js'
import type { QueueWaits } from '../stats/queue-waits.js'
import type { EncodedBody } from '../transport/binary-tensors.js'
import { SseReader } from '../transport/sse-events.js'
import { TransportError, type TransportResponse, toTransportError } from '../transport/worker-transport.js'
import type { PoolWorker } from '../workers/pool-worker.js'
import type { GenerationKind } from './routed-needs.js'

/** Checks a 2xx body against the route's protocol schema: the value, or null when it does not match. */
export type Validate<T> = (body: unknown, response?: TransportResponse) => T | null

/** One call as every attempt of it sees it. */
export interface DispatchCall<T> {
  need: RoutedNeed
  body: string | EncodedBody
  validate: Validate<T>
  /** `Date.now()` when the task's deadline passes. */
  deadline: number
  signal: AbortSignal | undefined
  /** Arrival order (a retry keeps its task's, so it waits first). */
  seq: number
}

/** One stream as every attempt of it sees it. */
export interface StreamCall {
  need: RoutedNeed
  kind: GenerationKind
  /** The request body (always `stream: true`). */
  body: string
  /** `Date.now()` when the whole stream's deadline passes. */
  deadline: number
  /** The stream's own signal: the caller's, its deadline, and the caller leaving the loop. */
  signal: AbortSignal
  seq: number
  /** The caller asked for the usage chunk (the pool always asks the worker for it). */
  includeUsage: boolean
}

/** A stream whose first chunk arrived: it holds its worker's slot (and sequence) until {@link AttemptDispatcher.finishStream}. */
export interface OpenedStream<C extends GenerationChunk> {
  readonly lease: Lease<PoolWorker>
  readonly first: C
  /** The `data:` payloads after the first. */
  readonly events: SseReader
  /** The HTTP body (destroyed to close the connection, which cancels the generation on the worker). */
  readonly body: { destroy(): unknown }
  readonly headers: TransportResponse['headers']
  /** `performance.now()` when the request went out, and when its first chunk arrived. */
  readonly sentAt: number
  readonly firstAt: number
}

/** Settings of {@link AttemptDispatcher}. */
export interface AttemptDispatcherOptions {
  leases: WorkerLeases<PoolWorker>
  settings: () => LoadBalancingConfig
  counters: PoolCounters
  /** Where the time each attempt waited for a slot goes. */
  waits: QueueWaits
  /** Re-checks a worker's health now (its state or capabilities changed under us). */
  recheck: (worker: PoolWorker) => void
}

/**
 * One attempt of a call, end to end: a slot from the leases (at once when a worker has room, else after
 * waiting), the request on that worker's transport with the time left, the answer classified, and the
 * outcome written where it belongs (the worker's counters and latency estimate, the breaker through the
 * lease, Retry-After back-off, a health re-check). The retry policy composes attempts; this is one.
 */
export class AttemptDispatcher {
  readonly #options: AttemptDispatcherOptions

  constructor(options: AttemptDispatcherOptions) {
    this.#options = options
  }

  /** The silence after which a stream counts as failed (ms; read per stream, so reloads apply). */
  get streamIdleTimeoutMs(): number {
    return this.#options.settings().streamIdleTimeoutMs
  }

  /** One attempt on a worker not in `tried`, or why no worker could be had. Never throws. */
  attempt<T>(call: DispatchCall<T>, tried: readonly PoolWorker[]): Promise<Attempted<T, PoolWorker>> {
    // Not async: with a slot at once (the common case) the send's own promise is the attempt's, one layer less.
    // One clock reading for the selection and the attempt's timeout, taken in the same turn.
    const now = Date.now()
    const lease = this.#lease(call, tried, now)
    if (!(lease instanceof Promise)) return this.#send(lease, call, now)
    return lease.then((got) => (got.kind === 'unavailable' ? got : this.#send(got.lease, call, Date.now())))
  }

  /**
   * One attempt at opening a stream: a slot, the request, and its first chunk. On success the slot stays
   * held by the {@link OpenedStream} (end it with {@link finishStream}); a failure before the first chunk is
   * classified and recorded like any attempt's, so the retry policy can move it to another worker.
   */
  attemptStream<C extends GenerationChunk>(
    call: StreamCall,
    tried: readonly PoolWorker[],
  ): Promise<Attempted<OpenedStream<C>, PoolWorker>> {
    const now = Date.now()
    const lease = this.#lease(call, tried, now)
    if (!(lease instanceof Promise)) return this.#open<C>(lease, call, now)
    return lease.then((got) =>
      got.kind === 'unavailable' ? got : this.#open<C>(got.lease, call, Date.now()),
    )
  }

  /**
   * Ends a stream that had its first chunk: `success` (it reached `[DONE]`), `failure` (the worker failed it:
   * held against the worker, the circuit counts it) or `neutral` (the caller left or its deadline passed).
   */
  finishStream(
    opened: OpenedStream<GenerationChunk>,
    verdict: LeaseVerdict,
    failure?: RetryableOutcome,
  ): void {
    const { lease } = opened
    const { worker } = lease
    const ms = performance.now() - opened.sentAt
    const now = Date.now()
    if (verdict === 'success') {
      worker.traffic.succeeded(ms)
      worker.latency.observe(lease.need, ms, now)
    } else if (verdict === 'failure' && failure) {
      worker.latency.penalize(lease.need, ms, now)
      worker.traffic.failed(failure.reason, failure.workerCode)
    }
    this.#options.leases.release(lease, verdict)
  }

  /** A slot for the call: synchronous when a worker has room (the common case, no promise), else after waiting. */
  #lease(
    call: { need: RoutedNeed; deadline: number; signal: AbortSignal | undefined; seq: number },
    tried: readonly PoolWorker[],
    now: number,
  ): Lease<PoolWorker> | Promise<Leased> {
    const { leases, waits } = this.#options
    const lease = leases.tryAcquire(call.need, tried, now)
    if (lease !== undefined) {
      waits.observe(call.need, 0)
      return lease
    }
    const t0 = performance.now()
    return leases.acquire(call.need, tried, call.deadline, call.signal, call.seq).then(
      (lease): Leased => {
        waits.observe(call.need, (performance.now() - t0) / 1000)
        return { kind: 'leased', lease }
      },
      (error: unknown): Leased => ({ kind: 'unavailable', error: error as PoolError }),
    )
  }

  /** The attempt's timeout at `now`: the attempt timeout, or the time left when the task's deadline comes first. */
  #timeout(deadline: number, now: number): { timeoutMs: number; deadlineLimited: boolean } {
    const attemptTimeoutMs = this.#options.settings().attemptTimeoutMs
    const remaining = deadline - now
    const deadlineLimited = remaining < attemptTimeoutMs
    return { timeoutMs: deadlineLimited ? Math.max(1, remaining) : attemptTimeoutMs, deadlineLimited }
  }

  #sent(lease: Lease<PoolWorker>): void {
    const { counters } = this.#options
    lease.worker.traffic.sent(lease.panic)
    counters.attempts++
    if (lease.panic) counters.routedWhileEjected++
  }

  async #open<C extends GenerationChunk>(
    lease: Lease<PoolWorker>,
    call: StreamCall,
    now: number,
  ): Promise<Attempted<OpenedStream<C>, PoolWorker>> {
    const { worker } = lease
    const { timeoutMs, deadlineLimited } = this.#timeout(call.deadline, now)
    const idleMs = this.#options.settings().streamIdleTimeoutMs
    this.#sent(lease)
    const sentAt = performance.now()
    let outcome: AttemptOutcome<OpenedStream<C>>
    try {
      const response = await worker.transport.openStream(
        worker.entry.basePath + call.need.path,
        call.body,
        { firstChunkMs: timeoutMs, idleMs, deadlineMs: call.deadline - now },
        call.signal,
        worker.health.trusted,
      )
      if (response.status !== 200) {
        const text = await response.body.text()
        // A streaming route's non-200 answer is never a success (its validator accepts nothing): only its error is read.
        outcome = classifyResponse<OpenedStream<C>>(
          { status: response.status, headers: response.headers, text },
          () => null,
          Date.now,
        )
      } else {
        const events = new SseReader(response.body)
        const data = await events.read()
        const event = data === undefined ? null : readEvent<C>(call.kind, data, call.includeUsage)
        if (event?.kind === 'chunk') {
          const firstAt = performance.now()
          worker.generation.firstChunk(firstAt - sentAt)
          const opened = { lease, first: event.chunk, events, body: response.body, headers: response.headers }
          return {
            kind: 'attempted',
            worker,
            outcome: { kind: 'success', value: { ...opened, sentAt, firstAt } },
          }
        }
        response.body.destroy()
        outcome = beforeFirstChunk(event)
      }
    } catch (error) {
      outcome = classifyTransportError(toTransportError(error, call.signal, timeoutMs), deadlineLimited)
    }
    this.#record(lease, call.need, outcome, performance.now() - sentAt)
    return { kind: 'attempted', worker, outcome }
  }

  async #send<T>(
    lease: Lease<PoolWorker>,
    call: DispatchCall<T>,
    now: number,
  ): Promise<Attempted<T, PoolWorker>> {
    const { worker } = lease
    const { timeoutMs, deadlineLimited } = this.#timeout(call.deadline, now)
    this.#sent(lease)
    const t0 = performance.now()
    let outcome: AttemptOutcome<T>
    try {
      const response = await worker.transport.post(
        worker.entry.basePath + call.need.path,
        call.body,
        timeoutMs,
        call.signal,
        worker.health.trusted,
      )
      outcome = classifyResponse(response, call.validate, Date.now)
    } catch (error) {
      outcome = classifyTransportError(
        error instanceof TransportError
          ? error
          : new TransportError('connection', (error as Error).message, error),
        deadlineLimited,
      )
    }
    this.#record(lease, call.need, outcome, performance.now() - t0)
    return { kind: 'attempted', worker, outcome }
  }

  /** Writes an attempt's outcome where it belongs: counters, latency estimate, breaker (through the lease), back-off. */
  #record(lease: Lease<PoolWorker>, need: RoutedNeed, outcome: AttemptOutcome<unknown>, ms: number): void {
    const { worker } = lease
    const { leases } = this.#options
    const now = Date.now()
    switch (outcome.kind) {
      case 'success':
        worker.traffic.succeeded(ms)
        worker.latency.observe(need, ms, now)
        leases.release(lease, 'success')
        break
      case 'retryable':
        // Any failure makes the worker look slower, never faster: fast 5xx or 503s must not attract traffic.
        worker.latency.penalize(need, ms, now)
        if (outcome.countsAgainstWorker) {
          worker.traffic.failed(outcome.reason, outcome.workerCode)
          leases.release(lease, 'failure')
        } else {
          worker.traffic.deferred(outcome.reason, outcome.workerCode)
          leases.release(lease, 'neutral')
        }
        if (outcome.retryAfterMs !== null) leases.backOff(worker, now + outcome.retryAfterMs)
        if (outcome.recheckHealth) this.#options.recheck(worker)
        break
      case 'rejected':
        worker.traffic.rejected(outcome.workerCode)
        leases.release(lease, 'neutral')
        break
      case 'deadline':
        // The caller's short deadline, not the worker's fault, but the worker took at least this long.
        worker.latency.atLeast(need, ms, now)
        leases.release(lease, 'neutral')
        break
      default:
        leases.release(lease, 'neutral')
    }
  }
}

type Leased = { kind: 'leased'; lease: Lease<PoolWorker> } | { kind: 'unavailable'; error: PoolError }

/** Why a 200 stream failed before its first chunk: held against the worker, so another one is tried. */
function beforeFirstChunk(event: StreamEvent<GenerationChunk> | null): RetryableOutcome {
  const message =
    event === null
      ? 'the stream ended before its first chunk'
      : event.kind === 'error'
        ? event.message
        : event.kind === 'invalid'
          ? event.message
          : 'the stream ended before its first chunk'
  const workerCode = event?.kind === 'error' ? event.code : null
  return {
    kind: 'retryable',
    reason: event?.kind === 'error' ? 'server_error' : 'bad_response',
    message,
    status: 200,
    workerCode,
    countsAgainstWorker: true,
    retryAfterMs: null,
    recheckHealth: false,
  }
}
