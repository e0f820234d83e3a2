/**
 * The `data:` payloads of a server-sent-events body, in order, read a body chunk at a time (WHATWG's parsing
 * rules for the part OpenAI streams use: `data:` lines joined by newlines, an empty line ends the event, `:`
 * comments and other fields ignored, CRLF or LF). Decoding is incremental, so a character split across chunks
 * stays whole. A worker writes several events per socket write, so a reader takes every event a chunk completed
 * without waiting ({@link take}) and awaits only when it needs more bytes ({@link fill}): one await per chunk,
 * not per event.
 */
export class SseReader {
  readonly #source: AsyncIterator<Uint8Array | string>
  readonly #decoder = new TextDecoder()
  #buffer = ''
  // A multi-line event's lines until its empty line (OpenAI's events are one line: this stays empty).
  #lines: string[] = []
  // The events the chunks read so far completed, from #next on; reused, so reading allocates only the payloads.
  readonly #events: string[] = []
  #next = 0

  constructor(body: AsyncIterable<Uint8Array | string>) {
    this.#source = body[Symbol.asyncIterator]()
  }

  /** The next payload already read, or undefined when the next one needs more bytes (then {@link fill}). */
  take(): string | undefined {
    if (this.#next === this.#events.length) return undefined
    const data = this.#events[this.#next++]
    if (this.#next === this.#events.length) {
      this.#events.length = 0
      this.#next = 0
    }
    return data
  }

  /** Reads the body until at least one more payload is complete; false when the body ended first. Throws what the body throws. */
  async fill(): Promise<boolean> {
    while (this.#next === this.#events.length) {
      const read = await this.#source.next()
      if (read.done === true) return false
      const bytes = read.value
      this.#parse(typeof bytes === 'string' ? bytes : this.#decoder.decode(bytes, { stream: true }))
    }
    return true
  }

  /** The next payload, reading more of the body if needed; undefined at the body's end. */
  async read(): Promise<string | undefined> {
    const data = this.take()
    if (data !== undefined) return data
    return (await this.fill()) ? this.take() : undefined
  }

  #parse(text: string): void {
    const buffer = this.#buffer.length === 0 ? text : this.#buffer + text
    let start = 0
    for (;;) {
      const end = buffer.indexOf('\n', start)
      if (end < 0) break
      const lineEnd = buffer.charCodeAt(end - 1) === 13 && end > start ? end - 1 : end
      if (lineEnd === start) {
        const lines = this.#lines
        if (lines.length > 0) {
          this.#events.push(lines.length === 1 ? (lines[0] as string) : lines.join('\n'))
          this.#lines = []
        }
      } else if (buffer.startsWith('data:', start)) {
        const from = buffer.charCodeAt(start + 5) === 32 && start + 5 < lineEnd ? start + 6 : start + 5
        this.#lines.push(buffer.slice(from, lineEnd))
      }
      start = end + 1
    }
    this.#buffer = start === 0 ? buffer : buffer.slice(start)
  }
}
