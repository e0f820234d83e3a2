import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import type { InferRequest, InferResponse } from '@npu-fleet/protocol'
import type { Tensor } from '../backends/tensor.js'
import { ErrBadInferRequest, ErrMalformedBody } from '../errors.js'
import type { JsonCodecReply, JsonCodecRequest } from './json-codec-thread.js'

/** Answers whose JSON outputs hold at least this many numbers are written on the JSON thread. */
export const OFF_THREAD_JSON_ELEMENTS = 16_384

/** Where the thread entry is: beside this module once compiled, else under dist/ (vitest runs src/). */
function threadEntry(): URL {
  const beside = new URL('./json-codec-thread.js', import.meta.url)
  if (existsSync(beside)) return beside
  const compiled = new URL('../../dist/kserve/json-codec-thread.js', import.meta.url)
  if (existsSync(compiled)) return compiled
  throw new Error(`JSON codec thread entry not found at ${fileURLToPath(beside)}: build the worker first`)
}

interface Pending {
  resolve: (reply: Extract<JsonCodecReply, { ok: true }>) => void
  reject: (error: Error) => void
}

/**
 * The JSON side of big tensors on one worker thread: decoding large request bodies (JSON.parse, schema,
 * element checks, typed arrays) and encoding answers with large outputs, so the event loop keeps answering
 * `/health` and small requests while clients send and receive big JSON tensors. The thread is started on
 * first use and replaced if it dies; work in flight on it then fails with a 500.
 */
export class JsonCodecPool {
  #worker: Worker | null = null
  #nextId = 1
  readonly #pending = new Map<number, Pending>()

  /** Decodes `bytes` (transferred: the caller gives them up). Rejects with the same 400s as the inline path. */
  async decode(bytes: Uint8Array): Promise<InferRequest> {
    const reply = await this.#send({ id: 0, kind: 'decode', bytes }, [bytes.buffer as ArrayBuffer])
    return (reply as { request: InferRequest }).request
  }

  /**
   * The JSON text of `response` with `tensors` appended to its outputs as JSON data. The tensors' buffers are
   * transferred: the caller must not use them afterwards.
   */
  async encode(response: InferResponse, tensors: Array<{ name: string; tensor: Tensor }>): Promise<Buffer> {
    const transfer = [...new Set(tensors.map(({ tensor }) => tensor.data.buffer as ArrayBuffer))]
    const reply = await this.#send({ id: 0, kind: 'encode', response, tensors }, transfer)
    const json = (reply as { json: Uint8Array }).json
    return Buffer.from(json.buffer, json.byteOffset, json.byteLength)
  }

  /** Stops the thread (work in flight fails). */
  async close(): Promise<void> {
    const worker = this.#worker
    this.#worker = null
    if (worker) await worker.terminate()
  }

  #send(request: JsonCodecRequest, transfer: ArrayBuffer[]): Promise<Extract<JsonCodecReply, { ok: true }>> {
    const worker = this.#thread()
    const id = this.#nextId++
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject })
      worker.postMessage({ ...request, id }, transfer)
    })
  }

  #thread(): Worker {
    if (this.#worker) return this.#worker
    const worker = new Worker(threadEntry(), { name: 'json-codec' })
    worker.unref()
    worker.on('message', (reply: JsonCodecReply) => {
      const pending = this.#pending.get(reply.id)
      if (!pending) return
      this.#pending.delete(reply.id)
      if (reply.ok) pending.resolve(reply)
      else if (reply.kind === 'malformed') pending.reject(new ErrMalformedBody(reply.message))
      else pending.reject(new ErrBadInferRequest(reply.message))
    })
    const lost = (why: string) => {
      if (this.#worker === worker) this.#worker = null
      for (const [id, pending] of this.#pending) {
        this.#pending.delete(id)
        pending.reject(new Error(`JSON codec thread ${why}`))
      }
    }
    worker.on('error', (error) => lost(`failed: ${error.message}`))
    worker.on('exit', (code) => lost(`exited with code ${code}`))
    this.#worker = worker
    return worker
  }
}
