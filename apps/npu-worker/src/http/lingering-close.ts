import type { IncomingMessage } from 'node:http'
import { Socket } from 'node:net'
import type { FastifyInstance } from 'fastify'

/** How much of an unread request body a lingering close throws away, and for how long, before it gives up. */
export interface LingerLimits {
  /** Bytes of the rest of the body read and discarded; past them the connection is dropped. */
  maxBytes: number
  /** Milliseconds the connection may linger at most. */
  timeoutMs: number
}

/** How often a lingering connection checks its limits. */
const LINGER_CHECK_MS = 20

/**
 * Lingering connections that read at once, per app. Each reads at loopback speed (libuv takes up to 32
 * reads of 64 KiB per socket per turn of the event loop), so a flood of refused 1.2 MB bodies drained all at
 * once held the event loop for one turn of hundreds of megabytes; a few at a time keep every turn short.
 */
const CONCURRENT_DRAINS = 4

/** A body up to the worker's default body limit (64 MiB) at loopback speed, within two seconds. */
export const DEFAULT_LINGER_LIMITS: LingerLimits = { maxBytes: 64 * 1024 * 1024, timeoutMs: 2_000 }

/** A lingering connection answered and half-closed, reading nothing until a drain slot frees. */
interface WaitingLinger {
  state: 'waiting'
  /** When it began to wait (Date.now()). */
  since: number
  /** Starts reading; the connection calls LingerQueue.finished once it closed. */
  start: () => void
  /** Closes it unread: it waited past the time limit. */
  drop: () => void
}

/** A lingering connection, from its answer to its close. */
type Linger = WaitingLinger | { state: 'draining' } | { state: 'closed' }

/**
 * The lingering connections of one server: at most CONCURRENT_DRAINS read at once, the others wait their turn
 * in arrival order with their answer and our FIN already sent. One that waited longer than the time limit is
 * dropped without reading.
 */
export class LingerQueue {
  readonly #waiting: WaitingLinger[] = []
  #draining = 0

  constructor(readonly limits: LingerLimits = DEFAULT_LINGER_LIMITS) {}

  /** Connections reading now, and waiting their turn (for tests and diagnostics). */
  get sizes(): { draining: number; waiting: number } {
    return { draining: this.#draining, waiting: this.#waiting.length }
  }

  /** Queues a connection; its `start` runs when it may read. */
  enqueue(entry: WaitingLinger): void {
    this.#waiting.push(entry)
    this.#next()
  }

  /** A draining connection closed: its slot goes to the next one waiting. */
  finished(): void {
    this.#draining--
    this.#next()
  }

  #next(): void {
    while (this.#draining < CONCURRENT_DRAINS && this.#waiting.length > 0) {
      const entry = this.#waiting.shift() as WaitingLinger
      if (Date.now() - entry.since >= this.limits.timeoutMs) {
        entry.drop()
        continue
      }
      this.#draining++
      entry.start()
    }
  }
}

/**
 * Makes the close that follows this request's answer a lingering close, when the answer goes out before the
 * request body was read to its end (a 413, a 503 refused before the body, any error while parsing).
 *
 * Node ends a `Connection: close` answer with `socket.destroySoon()`: the socket is destroyed as soon as our
 * bytes are written. A client still sending its body then writes into a closed socket, the kernel answers
 * with a reset, and the client often reports EPIPE or ECONNRESET instead of the status it was sent (Fastify's
 * own 413 path does exactly that). So instead, as nginx's `lingering_close` does: half-close (our FIN after
 * the answer), keep reading and discarding what the client still sends (Node's parser drains the body into
 * the dumped request), and close once the body has ended or the client has closed its side, or after
 * `limits.maxBytes` or `limits.timeoutMs`, whichever comes first. Nothing is buffered.
 *
 * Reading stops as soon as the answer is decided and resumes when `queue` gives the connection a drain slot,
 * so a flood of refused bodies is read a few at a time, between the event loop's other work.
 */
export function lingerAfterAnswer(request: IncomingMessage, queue: LingerQueue): void {
  const socket = request.socket
  // Only a real connection lingers (an injected request, light-my-request's, has no socket to read).
  if (request.complete || !(socket instanceof Socket) || socket.destroyed) return
  // No more reads until the drain: the answer goes out without waiting behind this body.
  socket.pause()
  // Node resumes a dumped request's socket on the next tick (IncomingMessage._dump → readStart); until its
  // turn, that resume is held here.
  socket.resume = () => socket
  let linger: Linger = { state: 'closed' }
  const close = () => {
    if (linger.state === 'draining') queue.finished()
    linger = { state: 'closed' }
    if (!socket.destroyed) socket.destroy()
  }
  const drain = () => {
    // Closed while it waited (the client reset it): the slot it was just given goes on.
    if (linger.state !== 'waiting') {
      queue.finished()
      return
    }
    linger = { state: 'draining' }
    Reflect.deleteProperty(socket, 'resume')
    // The parser drains the dumped body without emitting it, so the bytes it read are counted on the socket.
    const readBefore = socket.bytesRead
    const started = Date.now()
    const watch = setInterval(() => {
      if (
        socket.bytesRead - readBefore > queue.limits.maxBytes ||
        Date.now() - started >= queue.limits.timeoutMs
      )
        close()
    }, LINGER_CHECK_MS)
    watch.unref()
    socket.once('close', () => clearInterval(watch))
    request.resume()
    socket.resume()
  }
  // The body ended (nothing unread is left to cause a reset) or the client closed or broke its side.
  request.once('end', close)
  socket.once('end', close)
  socket.once('error', close)
  socket.once('close', close)
  // Node calls destroySoon() on this socket once the answer with `Connection: close` has been written
  // (_http_server.js, resOnFinish).
  socket.destroySoon = () => {
    socket.end()
    if (socket.destroyed) return
    linger = { state: 'waiting', since: Date.now(), start: drain, drop: close }
    queue.enqueue(linger)
  }
}

/**
 * Registers the lingering close for every answer of `app` that closes its connection while the request
 * body is still unread (see lingerAfterAnswer); returns the queue its connections drain through.
 */
export function lingerOnEarlyClose(
  app: FastifyInstance,
  limits: LingerLimits = DEFAULT_LINGER_LIMITS,
): LingerQueue {
  const queue = new LingerQueue(limits)
  app.addHook('onSend', (request, reply, payload, done) => {
    const connection = reply.getHeader('connection')
    if (typeof connection === 'string' && connection.toLowerCase() === 'close')
      lingerAfterAnswer(request.raw, queue)
    done(null, payload)
  })
  return queue
}
