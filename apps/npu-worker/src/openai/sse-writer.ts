import type { FastifyReply } from 'fastify'
import { sseEvent } from './openai-response.js'

/**
 * A server-sent-events response written straight to the socket (the reply is hijacked: no stream in between).
 * Each piece of text stays its own event, but the events made in one turn of the event loop (the tokens of one
 * message from the generation thread) leave in one write: one chunk of the response, one syscall here and one
 * read at the client instead of one per token. Headers go out on `open()`; the request id header is set here
 * because hijacked replies skip the onSend hooks (onResponse still runs: metrics and the request log see the
 * stream's status).
 */
export class SseWriter {
  readonly #reply: FastifyReply
  readonly #headers: Record<string, string>
  #opened = false
  /** Framed events not written yet; written together at the end of this turn of the event loop. */
  #pending = ''
  #flushScheduled = false
  readonly #flush = () => {
    this.#flushScheduled = false
    this.#write()
  }

  constructor(reply: FastifyReply, headers: Record<string, string>) {
    this.#reply = reply
    this.#headers = headers
  }

  /** True once the headers went out: from then on, errors are events of the stream. */
  get opened(): boolean {
    return this.#opened
  }

  /** Sends the 200 and the event-stream headers (once). */
  open(): void {
    if (this.#opened) return
    this.#opened = true
    this.#reply.hijack()
    this.#reply.raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      'x-accel-buffering': 'no',
      'x-request-id': this.#reply.request.id,
      ...this.#headers,
    })
  }

  /** One `data:` event with `data` as JSON (or the `[DONE]` marker). */
  event(data: unknown): void {
    this.text(sseEvent(data))
  }

  /** Already-framed event text (the per-token fast path builds its own). */
  text(framed: string): void {
    this.open()
    this.#pending += framed
    if (this.#flushScheduled) return
    this.#flushScheduled = true
    setImmediate(this.#flush)
  }

  /** Ends the response (what is pending goes out first). */
  end(): void {
    if (!this.#opened) return
    this.#write()
    if (!this.#reply.raw.writableEnded) this.#reply.raw.end()
  }

  #write(): void {
    const framed = this.#pending
    if (!framed) return
    this.#pending = ''
    // A client that went away: nothing more to write (the request's signal has cancelled the generation).
    if (!this.#reply.raw.destroyed && !this.#reply.raw.writableEnded) this.#reply.raw.write(framed)
  }
}
