import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import { recordThreadPriority } from './thread-priority-ledger.js'
import type { FromThread, ToThread } from './thread-protocol.js'

/** How a thread's start-up ended: its service's info, or why it could not start. */
export type ThreadStart<Info> = { ok: true; info: Info } | { ok: false; message: string }

/** How a thread ended: its exit code and the last uncaught error it reported, if any. */
export interface ThreadExit {
  code: number
  error: string | null
}

/** A call the thread's service failed (it threw): the thread itself is fine. */
export class ThreadCallError extends Error {
  override name = 'ThreadCallError'
}

/** A call that was in flight on a thread that died; the message says how it died. */
export class ThreadLostError extends Error {
  override name = 'ThreadLostError'
}

/** Options of {@link ThreadChannel.open}. */
export interface ThreadChannelOptions {
  /** Thread name, shown in diagnostics and `/health` (e.g. `ort:mlp:1#0`). */
  name: string
  /** Passed to the thread as `workerData` (structured clone; a SharedArrayBuffer stays shared). */
  workerData?: unknown
}

/**
 * One worker thread speaking thread-protocol.ts, from the main side: the start handshake, numbered calls
 * with their replies, and the thread's end. Every call belongs to the channel it was sent on, so when a
 * thread dies only the calls that thread had are rejected (a replacement thread has its own channel).
 */
export class ThreadChannel<Request, Reply, Info = unknown> {
  /** Settles once the service started or failed to (a thread that exits first counts as failed). */
  readonly started: Promise<ThreadStart<Info>>
  /** Settles when the thread has ended. */
  readonly exited: Promise<ThreadExit>
  readonly name: string
  readonly #worker: Worker
  readonly #pending = new Map<number, { resolve: (reply: Reply) => void; reject: (error: Error) => void }>()
  #nextId = 1
  #lastError: string | null = null
  #exit: ThreadExit | null = null

  private constructor(entry: URL, options: ThreadChannelOptions) {
    this.name = options.name
    this.#worker = new Worker(entry, { workerData: options.workerData, name: options.name })
    let settleStart: (start: ThreadStart<Info>) => void = () => {}
    this.started = new Promise((resolve) => {
      settleStart = resolve
    })
    this.#worker.on('message', (message: FromThread<Reply, Info>) => {
      switch (message.kind) {
        case 'started':
          recordThreadPriority(this.name, message.priority)
          settleStart({ ok: true, info: message.info })
          return
        case 'start-failed':
          settleStart({ ok: false, message: message.message })
          return
        case 'reply':
        case 'failed': {
          const pending = this.#pending.get(message.id)
          if (!pending) return
          this.#pending.delete(message.id)
          if (message.kind === 'reply') pending.resolve(message.reply)
          else pending.reject(new ThreadCallError(message.message))
        }
      }
    })
    this.#worker.on('error', (error) => {
      this.#lastError = error.message
    })
    this.exited = new Promise((resolve) => {
      this.#worker.once('exit', (code) => {
        const exit = { code, error: this.#lastError }
        this.#exit = exit
        const why = `thread ${this.name} ${exit.error ? `failed (${exit.error})` : `exited with code ${code}`}`
        settleStart({ ok: false, message: `${why} before it was ready` })
        for (const [id, pending] of this.#pending) {
          this.#pending.delete(id)
          pending.reject(new ThreadLostError(why))
        }
        resolve(exit)
      })
    })
  }

  /** Starts a thread on `entry`, which must be a compiled thread entry file; throws when the file is missing. */
  static open<Request, Reply, Info = unknown>(
    entry: URL,
    options: ThreadChannelOptions,
  ): ThreadChannel<Request, Reply, Info> {
    if (entry.protocol === 'file:' && !existsSync(fileURLToPath(entry))) {
      throw new Error(
        `thread entry ${fileURLToPath(entry)} not found: build the worker (pnpm --filter @npu-fleet/worker build); tests running src/ pass the compiled entries in dist/`,
      )
    }
    return new ThreadChannel(entry, options)
  }

  /** The thread's id (as `worker_threads` numbers it). */
  get threadId(): number {
    return this.#worker.threadId
  }

  /** Calls sent and not yet answered. */
  get inFlight(): number {
    return this.#pending.size
  }

  /** How the thread ended, or null while it runs. */
  get exit(): ThreadExit | null {
    return this.#exit
  }

  /** Sends one call; `transfer` buffers are moved to the thread. Rejects if the service throws or the thread dies. */
  call(request: Request, transfer: readonly ArrayBuffer[] = []): Promise<Reply> {
    if (this.#exit) return Promise.reject(new ThreadLostError(`thread ${this.name} has ended`))
    const id = this.#nextId++
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject })
      this.#worker.postMessage({ kind: 'call', id, request } satisfies ToThread<Request>, [...transfer])
    })
  }

  /** Lets the process exit while this thread still runs (an idle codec thread; a thread given up on). */
  unref(): void {
    this.#worker.unref()
  }

  /**
   * Asks the thread to release its service and end, and waits for it. After `graceMs` the thread is
   * terminated; callers ask only of a thread that is not inside native code (see onnxruntime.ts).
   */
  async close(graceMs: number): Promise<ThreadExit> {
    if (this.#exit) return this.#exit
    this.#worker.postMessage({ kind: 'close' } satisfies ToThread<Request>)
    const timer = setTimeout(() => void this.#worker.terminate(), graceMs)
    timer.unref()
    const exit = await this.exited
    clearTimeout(timer)
    return exit
  }

  /** Ends the thread now. Never for a thread that may be inside ONNX Runtime's `run` (that aborts the process). */
  async terminate(): Promise<ThreadExit> {
    if (!this.#exit) await this.#worker.terminate()
    return this.exited
  }
}
