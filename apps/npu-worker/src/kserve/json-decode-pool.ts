import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import type { InferRequest } from '@npu-fleet/protocol'
import { ErrBadInferRequest, ErrMalformedBody } from '../errors.js'
import type { JsonDecodeReply } from './json-decode-thread.js'

/** Where the thread entry is: beside this module once compiled, else under dist/ (vitest runs src/). */
function threadEntry(): URL {
  const beside = new URL('./json-decode-thread.js', import.meta.url)
  if (existsSync(beside)) return beside
  const compiled = new URL('../../dist/kserve/json-decode-thread.js', import.meta.url)
  if (existsSync(compiled)) return compiled
  throw new Error(`JSON decode thread entry not found at ${fileURLToPath(beside)}: build the worker first`)
}

interface Pending {
  resolve: (request: InferRequest) => void
  reject: (error: Error) => void
}

/**
 * Decodes large JSON infer bodies on one worker thread (JSON.parse, schema, element checks, typed arrays),
 * so the event loop keeps answering `/health` and small requests while a client sends big JSON tensors.
 * The thread is started on first use and restarted if it dies; its in-flight bodies then fail with 500.
 */
export class JsonDecodePool {
  #worker: Worker | null = null
  #nextId = 1
  readonly #pending = new Map<number, Pending>()

  /** Decodes `bytes` (transferred: the caller gives them up). Rejects with the same 400s as the inline path. */
  decode(bytes: Uint8Array): Promise<InferRequest> {
    const worker = this.#thread()
    const id = this.#nextId++
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject })
      worker.postMessage({ id, bytes }, [bytes.buffer as ArrayBuffer])
    })
  }

  /** Stops the thread (pending decodes fail). */
  async close(): Promise<void> {
    const worker = this.#worker
    this.#worker = null
    if (worker) await worker.terminate()
  }

  #thread(): Worker {
    if (this.#worker) return this.#worker
    const worker = new Worker(threadEntry(), { name: 'json-decode' })
    worker.unref()
    worker.on('message', (reply: JsonDecodeReply) => {
      const pending = this.#pending.get(reply.id)
      if (!pending) return
      this.#pending.delete(reply.id)
      if (reply.ok) pending.resolve(reply.request as InferRequest)
      else if (reply.kind === 'malformed') pending.reject(new ErrMalformedBody(reply.message))
      else pending.reject(new ErrBadInferRequest(reply.message))
    })
    const lost = (why: string) => {
      if (this.#worker === worker) this.#worker = null
      for (const [id, pending] of this.#pending) {
        this.#pending.delete(id)
        pending.reject(new Error(`JSON decode thread ${why}`))
      }
    }
    worker.on('error', (error) => lost(`failed: ${error.message}`))
    worker.on('exit', (code) => lost(`exited with code ${code}`))
    this.#worker = worker
    return worker
  }
}
