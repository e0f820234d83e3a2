import type { InferResponse } from '@npu-fleet/protocol'
import type { Tensor } from '../backends/tensor.js'
import { ErrBadInferRequest, ErrMalformedBody } from '../errors.js'
import { ThreadChannel } from '../threads/thread-channel.js'
import type { StructuredInferRequest } from './infer-body.js'
import type { JsonCodecReply, JsonCodecRequest } from './json-codec-thread.js'

/** Answers whose JSON outputs hold at least this many numbers are written on the JSON thread. */
export const OFF_THREAD_JSON_ELEMENTS = 16_384

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

  /** `entry`: the compiled json-codec-thread.js (see threads/thread-entries.ts). */
  constructor(readonly entry: URL) {}

  /**
   * Decodes `bytes` (transferred: the caller gives them up) into a request whose inputs hold tensors. Rejects
   * with the same 400s as the inline path.
   */
  async decode(bytes: Uint8Array): Promise<StructuredInferRequest> {
    const reply = await this.#send({ kind: 'decode', bytes }, [bytes.buffer as ArrayBuffer])
    if (reply.kind !== 'decoded') throw new Error('JSON codec thread answered a decode with an encoding')
    return reply.request
  }

  /**
   * The JSON text of `response` with `tensors` appended to its outputs as JSON data. The tensors' buffers are
   * transferred: the caller must not use them afterwards.
   */
  async encode(response: InferResponse, tensors: Array<{ name: string; tensor: Tensor }>): Promise<Buffer> {
    const transfer = [
      ...new Set(
        tensors.flatMap(({ tensor }) =>
          tensor.datatype === 'BYTES' ? [] : [tensor.data.buffer as ArrayBuffer],
        ),
      ),
    ]
    const reply = await this.#send({ kind: 'encode', response, tensors }, transfer)
    if (reply.kind !== 'encoded') throw new Error('JSON codec thread answered an encoding with a decode')
    return Buffer.from(reply.json.buffer, reply.json.byteOffset, reply.json.byteLength)
  }

  /** Stops the thread (work in flight fails). */
  async close(): Promise<void> {
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
    try {
      reply = await this.#thread().call(request, transfer)
    } catch (error) {
      throw new Error(`JSON codec ${(error as Error).message}`)
    }
    if (reply.ok) return reply
    throw reply.kind === 'malformed'
      ? new ErrMalformedBody(reply.message)
      : new ErrBadInferRequest(reply.message)
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
