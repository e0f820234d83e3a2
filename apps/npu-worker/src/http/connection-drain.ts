import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import { Server as NetServer, type Socket } from 'node:net'

/**
 * Where one connection stands. Idle: no request announced since `since`, when it had read `bytesRead` bytes
 * (more read since means a request is arriving that the parser has not announced yet). Busy: serving these
 * responses.
 */
type ConnectionState =
  | { kind: 'idle'; since: number; bytesRead: number }
  | { kind: 'busy'; responses: Set<ServerResponse> }

/** Options of {@link ConnectionDrain}. */
export interface ConnectionDrainOptions {
  /**
   * How long a connection must have been idle before a drain closes it. A client about to reuse it sends
   * within this time under load; closing a socket the moment it looks idle races with that request.
   */
  idleLingerMs?: number
  /** After our FIN, how long the peer has to close its side before the socket is destroyed. */
  halfCloseMs?: number
}

/** What {@link ConnectionDrain.close} did. */
export interface ConnectionDrainResult {
  /** Connections open when the listener closed. */
  open: number
  /** Closed by the server after the response that said `Connection: close`. */
  closedAfterResponse: number
  /** Closed (FIN, never a reset) after being idle for the linger time. */
  closedIdle: number
  /** Closed by the client itself. */
  closedByClient: number
  /** Still open at the deadline: destroyed (each was busy that long, or its peer never closed). */
  left: number
  ms: number
}

/**
 * Tracks an HTTP server's connections so that a shutdown closes each one only when no request is on it,
 * which `server.close()` does not do: it destroys every socket that looks idle at that instant, including one
 * whose client has just written a request the server has not parsed yet, so that client reads ECONNRESET.
 * `close()` instead stops accepting, answers every further request with `Connection: close` (the socket then
 * ends after the response, and the client knows not to reuse it), and ends an idle socket with a FIN only once
 * it has been idle for `idleLingerMs` and nothing has arrived on it.
 */
export class ConnectionDrain {
  readonly #server: Server
  readonly #idleLingerMs: number
  readonly #halfCloseMs: number
  readonly #connections = new Map<Socket, ConnectionState>()
  /** Sockets this drain ended itself, idle. */
  readonly #endedIdle = new WeakSet<Socket>()
  /** Sockets Node ended after a response that said `Connection: close`. */
  readonly #endedAfterResponse = new WeakSet<Socket>()
  #closing: {
    result: ConnectionDrainResult
    started: number
    settle: () => void
  } | null = null

  constructor(server: Server, options: ConnectionDrainOptions = {}) {
    this.#server = server
    this.#idleLingerMs = options.idleLingerMs ?? 250
    this.#halfCloseMs = options.halfCloseMs ?? 1000
    server.on('connection', (socket: Socket) => this.#track(socket))
    // Before Fastify's own listener, so the response is marked before any route can write its head.
    server.prependListener('request', (request: IncomingMessage, response: ServerResponse) =>
      this.#onRequest(request, response),
    )
  }

  /** Connections open now. */
  get open(): number {
    return this.#connections.size
  }

  /**
   * Stops accepting connections, then closes each open one once no request is on it. Resolves when none is
   * left, or after `timeoutMs` (the rest are destroyed then: they stayed busy that long).
   */
  close(timeoutMs: number): Promise<ConnectionDrainResult> {
    if (this.#closing) throw new Error('ConnectionDrain.close() called twice')
    const started = Date.now()
    const result: ConnectionDrainResult = {
      open: this.#connections.size,
      closedAfterResponse: 0,
      closedIdle: 0,
      closedByClient: 0,
      left: 0,
      ms: 0,
    }
    // net's close, not http's: http.Server.close() first destroys every socket that looks idle (the reset
    // this class exists to avoid). This only stops the listener; the sockets are ours to close.
    if (this.#server.listening) NetServer.prototype.close.call(this.#server)
    return new Promise((resolve) => {
      const deadline = setTimeout(() => {
        result.left = this.#connections.size
        for (const socket of this.#connections.keys()) socket.destroy()
        this.#connections.clear()
        finish()
      }, timeoutMs)
      const finish = () => {
        clearTimeout(deadline)
        result.ms = Date.now() - started
        this.#closing = null
        resolve(result)
      }
      this.#closing = {
        result,
        started,
        settle: () => {
          if (this.#connections.size === 0) finish()
        },
      }
      for (const [socket, state] of this.#connections) {
        if (state.kind === 'busy') for (const response of state.responses) markLast(response)
        else this.#closeWhenIdle(socket)
      }
      this.#closing.settle()
    })
  }

  #track(socket: Socket): void {
    this.#connections.set(socket, { kind: 'idle', since: Date.now(), bytesRead: 0 })
    socket.once('close', () => {
      const tracked = this.#connections.delete(socket)
      const closing = this.#closing
      if (!closing || !tracked) return
      if (this.#endedIdle.has(socket)) closing.result.closedIdle++
      else if (this.#endedAfterResponse.has(socket)) closing.result.closedAfterResponse++
      else closing.result.closedByClient++
      closing.settle()
    })
    // While closing, a connection accepted a moment before the listener closed is closed like any other.
    if (this.#closing) this.#closeWhenIdle(socket)
  }

  #onRequest(request: IncomingMessage, response: ServerResponse): void {
    const socket = request.socket
    const state = this.#connections.get(socket)
    if (!state) return
    const responses = state.kind === 'busy' ? state.responses : new Set<ServerResponse>()
    responses.add(response)
    this.#connections.set(socket, { kind: 'busy', responses })
    if (this.#closing) markLast(response)
    response.once('close', () => {
      responses.delete(response)
      if (socket.writableEnded) this.#endedAfterResponse.add(socket)
      if (responses.size > 0 || !this.#connections.has(socket)) return
      this.#connections.set(socket, { kind: 'idle', since: Date.now(), bytesRead: socket.bytesRead })
      // A response that could still say `Connection: close` has ended the socket by now; one whose head went
      // out before the drain (a stream) leaves the socket open and idle.
      if (this.#closing && !socket.writableEnded) this.#closeWhenIdle(socket)
    })
  }

  /** Ends `socket` once it has been idle for the linger time with nothing new read on it. */
  #closeWhenIdle(socket: Socket): void {
    const check = () => {
      const state = this.#connections.get(socket)
      if (!state || state.kind === 'busy' || !this.#closing) return
      if (socket.bytesRead !== state.bytesRead) {
        // Bytes read since the last answer are a request the parser has not finished: a request is on this
        // socket, so it is not closed (the close limit bounds a client that never finishes it).
        setTimeout(check, this.#idleLingerMs).unref()
        return
      }
      const wait = state.since + this.#idleLingerMs - Date.now()
      if (wait > 0) {
        setTimeout(check, wait).unref()
        return
      }
      this.#endedIdle.add(socket)
      // A FIN, not a reset: the peer reads the end of the stream and closes its side, which closes ours.
      socket.end()
      setTimeout(() => socket.destroy(), this.#halfCloseMs).unref()
    }
    check()
  }
}

/** Makes `response` the last on its connection: it says `Connection: close` and the socket ends after it. */
function markLast(response: ServerResponse): void {
  // Before the head is written, Node turns this into `Connection: close` and ends the socket after the body.
  if (!response.headersSent) response.shouldKeepAlive = false
}
