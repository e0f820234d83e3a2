import type { IncomingMessage, Server } from 'node:http'
import type { Socket } from 'node:net'

/**
 * New connections allowed to be waiting for their first request at once. A connection's first read carries
 * its request head and up to 64 KiB of body: the route runs and admission answers or queues it (up to
 * ~0.6 ms each on a 2-core build machine, refusals included). libuv serves every ready socket before it polls
 * again, so hundreds of connections whose first bytes arrived together were all taken in one turn of the
 * event loop, and a `/health` probe on its keep-alive connection waited behind them: turns of 30–120 ms
 * under the 600-request flood (perf on the worker's core). With 8, a turn reads at most 8 request heads of
 * new connections.
 */
export const FIRST_READS_AT_ONCE = 8

/**
 * How long a new connection may hold its place before its first request arrives, ms. A client that connects
 * and sends nothing (a preconnect, a slow sender) then lets the next one in instead of holding the line.
 */
export const FIRST_READ_WINDOW_MS = 20

/**
 * Paces new connections on `server`: at most {@link FIRST_READS_AT_ONCE} at a time may be waiting for their
 * first request; the others are accepted paused (their bytes wait in the kernel) and let in, oldest first, as
 * those places free (the request arrived, the connection closed, or it waited past
 * {@link FIRST_READ_WINDOW_MS}). Connections past their first request are never held: a burst of new clients
 * cannot stall the ones being served. An idle server holds nothing and arms nothing.
 */
export class ConnectionPacing {
  readonly #atOnce: number
  readonly #windowMs: number
  /** Connections let in whose first request has not arrived yet, and when each was let in (performance.now()). */
  readonly #firstReads = new Map<Socket, number>()
  readonly #held: Socket[] = []
  /** The sockets in #held, for a constant-time check. */
  readonly #holding = new Set<Socket>()
  #checkScheduled = false
  #idleTimer: NodeJS.Timeout | null = null
  #heldTotal = 0

  constructor(server: Server, atOnce: number = FIRST_READS_AT_ONCE, windowMs: number = FIRST_READ_WINDOW_MS) {
    this.#atOnce = atOnce
    this.#windowMs = windowMs
    server.on('connection', (socket: Socket) => this.#onConnection(socket))
    server.prependListener('request', (request: IncomingMessage) => this.#settled(request.socket))
  }

  /** Connections held back so far, and how many wait now (tests, diagnostics). */
  get stats(): { held: number; waiting: number } {
    return { held: this.#heldTotal, waiting: this.#held.length }
  }

  #onConnection(socket: Socket): void {
    socket.once('close', () => this.#settled(socket))
    if (this.#held.length === 0 && this.#firstReads.size < this.#atOnce) {
      this.#letIn(socket)
      return
    }
    this.#held.push(socket)
    this.#holding.add(socket)
    // Node's HTTP server stops the socket's reads on 'pause' (its parser reads the handle directly), but the
    // socket's own read(0) at creation starts them again on the next tick: the pause comes after it.
    process.nextTick(() => {
      if (this.#holding.has(socket)) socket.pause()
    })
    this.#heldTotal++
    this.#scheduleCheck()
  }

  #letIn(socket: Socket): void {
    this.#firstReads.set(socket, performance.now())
  }

  /** `socket` got its first request or closed: its place goes to the next one held. */
  #settled(socket: Socket): void {
    if (this.#firstReads.delete(socket)) this.#fill()
  }

  /** Lets held connections in while there are places; true when it let any in. */
  #fill(): boolean {
    let letIn = false
    while (this.#held.length > 0 && this.#firstReads.size < this.#atOnce) {
      const socket = this.#held.shift() as Socket
      this.#holding.delete(socket)
      if (socket.destroyed) continue
      this.#letIn(socket)
      socket.resume()
      letIn = true
    }
    return letIn
  }

  /**
   * While connections are held: after each turn's poll phase, a connection that has read anything (its
   * first read happened; a partial head is the parser's business now), closed, or sat idle past the window
   * gives its place up. When no place could change hands, it waits for the window instead of spinning.
   */
  #scheduleCheck(): void {
    if (this.#checkScheduled) return
    this.#checkScheduled = true
    setImmediate(this.#check)
  }

  readonly #check = (): void => {
    this.#checkScheduled = false
    if (this.#held.length === 0) return
    const expired = performance.now() - this.#windowMs
    let freed = false
    for (const [socket, since] of this.#firstReads) {
      if (socket.destroyed || socket.bytesRead > 0 || since <= expired) {
        this.#firstReads.delete(socket)
        freed = true
      }
    }
    const letIn = this.#fill()
    if (this.#held.length === 0) return
    if (freed || letIn) {
      this.#scheduleCheck()
      return
    }
    // Every place is taken by a connection that has sent nothing yet: check again when the window ends.
    if (this.#idleTimer) return
    this.#idleTimer = setTimeout(() => {
      this.#idleTimer = null
      this.#scheduleCheck()
    }, this.#windowMs)
    this.#idleTimer.unref()
  }
}
