import type { IncomingMessage } from 'node:http'
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

/** A body up to the worker's default body limit (64 MiB) at loopback speed, within two seconds. */
export const DEFAULT_LINGER_LIMITS: LingerLimits = { maxBytes: 64 * 1024 * 1024, timeoutMs: 2_000 }

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
 */
export function lingerAfterAnswer(
  request: IncomingMessage,
  limits: LingerLimits = DEFAULT_LINGER_LIMITS,
): void {
  const socket = request.socket
  if (request.complete || socket.destroyed) return
  // Node calls destroySoon() on this socket once the answer with `Connection: close` has been written
  // (_http_server.js, resOnFinish); the body is already being dumped by then.
  socket.destroySoon = () => {
    // The parser drains the dumped body without emitting it, so the bytes it read are counted on the socket.
    const readBefore = socket.bytesRead
    const started = Date.now()
    const close = () => {
      clearInterval(watch)
      if (!socket.destroyed) socket.destroy()
    }
    const watch = setInterval(() => {
      if (socket.bytesRead - readBefore > limits.maxBytes || Date.now() - started >= limits.timeoutMs) close()
    }, LINGER_CHECK_MS)
    watch.unref()
    // The body ended (nothing unread is left to cause a reset) or the client closed or broke its side.
    request.once('end', close)
    socket.once('end', close)
    socket.once('error', close)
    socket.once('close', close)
    socket.end()
    request.resume()
  }
}

/**
 * Registers the lingering close for every answer of `app` that closes its connection while the request
 * body is still unread (see lingerAfterAnswer).
 */
export function lingerOnEarlyClose(app: FastifyInstance, limits: LingerLimits = DEFAULT_LINGER_LIMITS): void {
  app.addHook('onSend', (request, reply, payload, done) => {
    const connection = reply.getHeader('connection')
    if (typeof connection === 'string' && connection.toLowerCase() === 'close')
      lingerAfterAnswer(request.raw, limits)
    done(null, payload)
  })
}
