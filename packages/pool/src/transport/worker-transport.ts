import { DEADLINE_HEADER, INFERENCE_HEADER_CONTENT_LENGTH } from '@npu-fleet/protocol'
import { Client, type Dispatcher, Pool } from 'undici'
import { describeNetworkError } from './network-error.js'

/** A worker's HTTP answer, body read as text. */
export interface TransportResponse {
  status: number
  headers: Dispatcher.ResponseData['headers']
  /** The body; with the binary tensor extension, only its JSON part. */
  text: string
  /** The bytes after the JSON part, when the answer uses the binary tensor extension. */
  binary?: Buffer
}

/** A streamed answer whose body is still to be read (server-sent events). */
export interface StreamingResponse {
  status: number
  headers: Dispatcher.ResponseData['headers']
  /** The body as it arrives; reading it may throw what {@link toTransportError} maps. */
  body: Dispatcher.ResponseData['body']
}

/** Why a request got no HTTP answer. */
export type TransportFailureKind = 'timeout' | 'aborted' | 'connection'

/** Thrown by {@link WorkerTransport.post} when no HTTP answer arrived. */
export class TransportError extends Error {
  override readonly name = 'TransportError'

  constructor(
    readonly kind: TransportFailureKind,
    message: string,
    override readonly cause?: unknown,
  ) {
    super(message)
  }
}

/** Maps what undici threw (a request, or the reading of its body) to a {@link TransportError}. */
export function toTransportError(
  error: unknown,
  signal: AbortSignal | undefined,
  ms: number,
): TransportError {
  if (error instanceof TransportError) return error
  if (signal?.aborted) return new TransportError('aborted', 'aborted by the caller', error)
  const code = (error as { code?: string }).code
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
    return new TransportError('timeout', `no answer within ${ms} ms`, error)
  }
  return new TransportError('connection', describeNetworkError(error), error)
}

/** Settings of one {@link WorkerTransport}. */
export interface WorkerTransportOptions {
  /** `scheme://host:port`. */
  origin: string
  /** Connections kept to the worker (the pool never has more requests in flight on it). */
  connections: number
  /** Sent as `Authorization: Bearer` on task and inference requests (not on /health). */
  authToken: string | null
}

/**
 * The HTTP side of one worker: an undici `Pool` with keep-alive for tasks and inference, and a separate
 * single-connection `Client` for health checks, so a probe never queues behind long inferences.
 */
export class WorkerTransport {
  readonly #pool: Pool
  readonly #health: Client
  readonly #authorization: string | null
  #plainHeaders: { ms: number; headers: readonly string[] } = { ms: -1, headers: [] }
  #authorizedHeaders: { ms: number; headers: readonly string[] } = { ms: -1, headers: [] }

  constructor(options: WorkerTransportOptions) {
    this.#pool = new Pool(options.origin, {
      connections: options.connections,
      keepAliveTimeout: 30_000,
      // Our own per-attempt timer is the deadline; undici's long defaults only catch what it misses.
      headersTimeout: 0,
      bodyTimeout: 0,
    })
    this.#health = new Client(options.origin, { keepAliveTimeout: 30_000, pipelining: 1 })
    this.#authorization = options.authToken === null ? null : `Bearer ${options.authToken}`
  }

  /**
   * The headers of a JSON request with `ms` left, built once per `ms` value and token verdict: the attempt
   * timeout is the same on almost every request, and undici only reads the array.
   */
  #jsonHeaders(ms: number, authorized: boolean): readonly string[] {
    const cache = authorized ? this.#authorizedHeaders : this.#plainHeaders
    if (cache.ms === ms) return cache.headers
    const headers = ['content-type', 'application/json', DEADLINE_HEADER, String(ms)]
    if (authorized) headers.push('authorization', this.#authorization as string)
    const built = { ms, headers }
    if (authorized) this.#authorizedHeaders = built
    else this.#plainHeaders = built
    return headers
  }

  /** The dispatcher health probes use. */
  get healthClient(): Dispatcher {
    return this.#health
  }

  /**
   * POSTs a JSON body and reads the answer. The worker is told the time left (`x-request-timeout-ms`) so it
   * drops work nobody waits for. The bearer token is sent only when `trusted` (the worker's identity holds). Rejects with {@link TransportError} when no response headers arrive within
   * `timeoutMs` (or the body then stalls that long), when `signal` fires, or when the connection fails.
   */
  async post(
    path: string,
    body: string | { bytes: Uint8Array; headers: readonly string[] },
    timeoutMs: number,
    signal: AbortSignal | undefined,
    trusted: boolean,
  ): Promise<TransportResponse> {
    const ms = Math.max(1, Math.floor(timeoutMs))
    // The token rides only on requests to a worker whose last /health answer validated as a compatible
    // npu-worker (selection sends nothing else, and this keeps it so whatever the caller).
    const authorized = this.#authorization !== null && trusted
    let headers: readonly string[]
    if (typeof body === 'string') headers = this.#jsonHeaders(ms, authorized)
    else {
      const framed = [...body.headers, DEADLINE_HEADER, String(ms)]
      if (authorized) framed.push('authorization', this.#authorization as string)
      headers = framed
    }
    try {
      // undici's own per-request timers, not an AbortController and a setTimeout per request: those cost
      // several microseconds each on the hot path. The caller's signal goes straight to undici (undefined: none).
      const response = await this.#pool.request({
        path,
        method: 'POST',
        headers: headers as string[],
        body: typeof body === 'string' ? body : body.bytes,
        headersTimeout: ms,
        bodyTimeout: ms,
        signal,
      })
      const framed = Number(response.headers[INFERENCE_HEADER_CONTENT_LENGTH])
      if (Number.isSafeInteger(framed) && framed > 0) {
        // Binary tensor extension: the JSON part, then raw tensor bytes.
        const bytes = Buffer.from(await response.body.arrayBuffer())
        const split = Math.min(framed, bytes.length)
        return {
          status: response.statusCode,
          headers: response.headers,
          text: bytes.subarray(0, split).toString('utf8'),
          binary: bytes.subarray(split),
        }
      }
      const text = await response.body.text()
      return { status: response.statusCode, headers: response.headers, text }
    } catch (error) {
      throw toTransportError(error, signal, ms)
    }
  }

  /**
   * POSTs a JSON body and returns as soon as the headers are in, the body left to read (a stream of
   * server-sent events). `firstChunkMs` bounds the wait for the headers (a streaming worker sends them with
   * its first piece of text), `idleMs` every silence in the body after it, `deadlineMs` is what the worker is
   * told. The same errors as {@link post}; closing `signal` mid-body closes the connection, which cancels the
   * generation on the worker.
   */
  async openStream(
    path: string,
    body: string,
    timeouts: { firstChunkMs: number; idleMs: number; deadlineMs: number },
    signal: AbortSignal,
    trusted: boolean,
  ): Promise<StreamingResponse> {
    const first = Math.max(1, Math.floor(timeouts.firstChunkMs))
    const headers = [
      'content-type',
      'application/json',
      'accept',
      'text/event-stream',
      DEADLINE_HEADER,
      String(Math.max(1, Math.floor(timeouts.deadlineMs))),
    ]
    if (this.#authorization !== null && trusted) headers.push('authorization', this.#authorization)
    try {
      const response = await this.#pool.request({
        path,
        method: 'POST',
        headers,
        body,
        headersTimeout: first,
        bodyTimeout: Math.max(1, Math.floor(timeouts.idleMs)),
        signal,
      })
      return { status: response.statusCode, headers: response.headers, body: response.body }
    } catch (error) {
      throw toTransportError(error, signal, first)
    }
  }

  /** Closes gracefully: requests in flight finish first (removed workers drain this way). */
  async close(): Promise<void> {
    await Promise.all([this.#pool.close(), this.#health.close()])
  }

  /** Closes at once, failing requests in flight. */
  async destroy(): Promise<void> {
    await Promise.all([this.#pool.destroy(), this.#health.destroy()])
  }
}
