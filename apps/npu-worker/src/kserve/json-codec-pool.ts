import type { Tensor } from '../backends/tensor.js'
import { ErrBadInferRequest, ErrMalformedBody } from '../errors.js'
import { ThreadChannel } from '../threads/thread-channel.js'
import { transferableChunks } from './body-chunks.js'
import type { StructuredInferRequest } from './infer-body.js'
import type { AnswerHeader } from './json-answer.js'
import type { JsonCodecReply, JsonCodecRequest } from './json-codec-service.js'

/** Answers whose JSON outputs hold at least this many numbers are written on the JSON thread. */
export const OFF_THREAD_JSON_ELEMENTS = 16_384

/**
 * A JSON thread with nothing to do for this long ends; the next big body starts a new one. Its heap after a
 * burst of 6 MB bodies is tens of MB that a worker serving binary tensors, or idle, should not keep.
 */
export const JSON_THREAD_IDLE_MS = 15_000

type CodecChannel = ThreadChannel<JsonCodecRequest, JsonCodecReply, null>

/**
 * The JSON side of big tensors on one worker thread: decoding large request bodies (JSON.parse, schema,
 * element checks, typed arrays) and encoding answers with large outputs, so the event loop keeps answering
 * `/health` and small requests while clients send and receive big JSON tensors. The thread is started on
 * first use and replaced if it dies; work in flight on the dead thread then fails with a 500, and work sent
 * to the replacement is untouched (each thread's calls live on its own channel).
 */
export class JsonCodecPool {
  #channel: CodecChannel | null = null
  #idleTimer: NodeJS.Timeout | null = null

  /**
   * `entry`: the compiled json-codec-thread.js (see threads/thread-entries.ts); `idleMs`: how long an idle
   * thread lives on (JSON_THREAD_IDLE_MS).
   */
  constructor(
    readonly entry: URL,
    readonly idleMs: number = JSON_THREAD_IDLE_MS,
  ) {}

  /** True while a codec thread exists (it starts on first use and ends after `idleMs` without work). */
  get running(): boolean {
    return this.#channel !== null
  }

  /**
   * Decodes a JSON body, given as its chunks in order (transferred: the caller gives them up; the thread joins
   * them), into a request whose inputs hold tensors. Rejects with the same 400s as the inline path.
   */
  async decode(chunks: readonly Uint8Array[]): Promise<StructuredInferRequest> {
    const { body, transfer } = transferableChunks(chunks)
    const reply = await this.#send({ kind: 'decode', body }, transfer)
    if (reply.kind !== 'decoded') throw new Error('JSON codec thread answered a decode with an encoding')
    return reply.request
  }

  /**
   * The JSON text of the answer `header` with `tensors` as its outputs, as JSON data (json-answer.ts). The
   * tensors' buffers are transferred: the caller must not use them afterwards.
   */
  async encode(
    header: AnswerHeader,
    tensors: ReadonlyArray<{ name: string; tensor: Tensor }>,
  ): Promise<Buffer> {
    const transfer = [
      ...new Set(
        tensors.flatMap(({ tensor }) =>
          tensor.datatype === 'BYTES' ? [] : [tensor.data.buffer as ArrayBuffer],
        ),
      ),
    ]
    const outputs = tensors.map(({ name, tensor }) => ({ name, tensor }))
    const reply = await this.#send({ kind: 'encode', header, outputs }, transfer)
    if (reply.kind !== 'encoded') throw new Error('JSON codec thread answered an encoding with a decode')
    return Buffer.from(reply.json.buffer, reply.json.byteOffset, reply.json.byteLength)
  }

  /** Stops the thread (work in flight fails). */
  async close(): Promise<void> {
    if (this.#idleTimer) clearTimeout(this.#idleTimer)
    this.#idleTimer = null
    const channel = this.#channel
    this.#channel = null
    // Pure JavaScript work: terminating mid-call is safe.
    if (channel) await channel.terminate()
  }

  async #send(
    request: JsonCodecRequest,
    transfer: ArrayBuffer[],
  ): Promise<Extract<JsonCodecReply, { ok: true }>> {
    let reply: JsonCodecReply
    const channel = this.#thread()
    if (this.#idleTimer) clearTimeout(this.#idleTimer)
    this.#idleTimer = null
    try {
      reply = await channel.call(request, transfer)
    } catch (error) {
      throw new Error(`JSON codec ${(error as Error).message}`)
    } finally {
      this.#whenIdle(channel)
    }
    if (reply.ok) return reply
    throw reply.kind === 'malformed'
      ? new ErrMalformedBody(reply.message)
      : new ErrBadInferRequest(reply.message)
  }

  /** Ends `channel` once it has had nothing to do for `idleMs` (a call in between cancels that). */
  #whenIdle(channel: CodecChannel): void {
    if (channel.inFlight > 0 || this.#channel !== channel) return
    if (this.#idleTimer) clearTimeout(this.#idleTimer)
    this.#idleTimer = setTimeout(() => {
      this.#idleTimer = null
      if (this.#channel !== channel || channel.inFlight > 0) return
      this.#channel = null
      void channel.close(1_000)
    }, this.idleMs)
    this.#idleTimer.unref()
  }

  #thread(): CodecChannel {
    if (this.#channel) return this.#channel
    const channel: CodecChannel = ThreadChannel.open(this.entry, { name: 'json-codec' })
    // An idle codec thread must not keep the process alive.
    channel.unref()
    void channel.exited.then(() => {
      if (this.#channel === channel) this.#channel = null
    })
    this.#channel = channel
    return channel
  }
}
