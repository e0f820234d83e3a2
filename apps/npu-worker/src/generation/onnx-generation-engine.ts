import { Worker } from 'node:worker_threads'
import type { AbandonedCall, ModelCondition } from '../backends/backend.js'
import { recordThreadPriority } from '../threads/thread-priority-ledger.js'
import type { GenerationFiles } from './generation-files.js'
import { type ResolvedParameters, resolveParameters } from './generation-parameters.js'
import type {
  GenerationFaults,
  GenerationThreadData,
  GenerationThreadReply,
  GenerationThreadRequest,
  SequenceEvent,
  ThreadLimits,
} from './generation-thread-protocol.js'
import {
  type FinishReason,
  type GenerateOptions,
  GenerationError,
  type GenerationInput,
  type GenerationParameters,
  type GenerationResult,
  type GeneratorLimits,
  type GeneratorLoad,
  type TextGenerator,
} from './text-generator.js'

/** Everything the engine needs to serve one language model. */
export interface OnnxGenerationSpec {
  /** Model name and version, for thread names and messages. */
  name: string
  version: string
  files: GenerationFiles
  /** ONNX Runtime intra-op threads of the session. */
  threads: number
  /** Context length from model.yaml; null = the model's config.json. */
  contextLength: number | null
  maxSequences: number
  defaultMaxTokens: number
  prefillChunkTokens: number
  /** Hard limit of one step (a model run, or the thread's answer to a request), ms. */
  stepTimeoutMs: number
  /** Limit of loading the model in a (new) thread, ms. */
  loadTimeoutMs: number
  /** The compiled generation-thread.js; injected by the composition root (worker threads cannot run .ts). */
  threadEntry: URL
  /** Test-only faults (the worker's `test_hooks`); null in production. */
  faults: GenerationFaults | null
}

/** The generation thread, as one state. */
type EngineThread =
  /** Loading the model; `attempt` > 0 when replacing a failed thread. */
  | { kind: 'starting'; worker: Worker; abandoned: SharedArrayBuffer; attempt: number; reason: string | null }
  /** Serving. */
  | { kind: 'ready'; worker: Worker; abandoned: SharedArrayBuffer }
  /** The last start failed; the next is due at `retryAt` (epoch ms). */
  | { kind: 'backoff'; attempt: number; retryAt: number; reason: string; timer: NodeJS.Timeout }
  /** Unloaded. */
  | { kind: 'closed' }

/** One `generate` call. */
interface Call {
  id: number
  input: GenerationInput
  parameters: ResolvedParameters
  onChunk: ((chunk: { text: string }) => void) | undefined
  resolve: (result: GenerationResult) => void
  reject: (error: Error) => void
  signal: AbortSignal | undefined
  onAbort: () => void
  text: string
  promptTokens: number
  generated: number
  startedAt: number
  firstTextAt: number | null
  /** The caller aborted; the thread has been asked to cancel. */
  cancelled: boolean
}

/** Longest wait between two attempts to replace a failed thread. */
const MAX_BACKOFF_MS = 30_000

/**
 * Text generation with ONNX Runtime on the CPU: a real decode loop (prefill, KV cache, continuous batching,
 * sampling, stop strings) in a worker thread of its own (generation-thread.ts), never on the event loop.
 * Calls beyond `maxSequences` wait in arrival order. A step that does not come back within `stepTimeoutMs`
 * fails the calls in it and the thread is abandoned, never terminated: terminating a thread inside
 * `session.run` aborts the whole process (onnxruntime-node throws into the dead environment), so the thread
 * is told by a shared flag to exit by itself once the run returns, and a new thread takes over.
 */
export class OnnxGenerationEngine implements TextGenerator {
  readonly backend = 'onnxruntime' as const
  readonly device = 'CPU'
  readonly precision = 'FP32' as const
  readonly limits: GeneratorLimits
  readonly #spec: OnnxGenerationSpec
  #thread: EngineThread
  readonly #waiting: Call[] = []
  readonly #running = new Map<number, Call>()
  /** Threads given up on that have not exited yet, each as `/health` lists it. */
  readonly #abandoned = new Map<Worker, AbandonedCall>()
  #nextId = 1
  #watchdog: NodeJS.Timeout | null = null
  #conditionListener: ((condition: ModelCondition) => void) | null = null
  #lastCondition: ModelCondition = { kind: 'serving' }

  private constructor(spec: OnnxGenerationSpec, thread: EngineThread, limits: ThreadLimits) {
    this.#spec = spec
    this.#thread = thread
    this.limits = {
      context_length: limits.contextLength,
      max_sequences: spec.maxSequences,
      default_max_tokens: Math.min(spec.defaultMaxTokens, limits.contextLength - 1),
      step_timeout_ms: spec.stepTimeoutMs,
      max_prompt_tokens: null,
    }
  }

  /** Starts the thread and loads the model; rejects with the reason it could not. */
  static async start(spec: OnnxGenerationSpec): Promise<OnnxGenerationEngine> {
    const { worker, abandoned, started } = spawnThread(spec)
    const start = await started
    if (!start.ok) {
      abandonThread(worker, abandoned)
      throw new Error(`ONNX Runtime could not load ${spec.files.model} for generation: ${start.message}`)
    }
    const engine = new OnnxGenerationEngine(spec, { kind: 'ready', worker, abandoned }, start.limits)
    engine.#adopt(worker)
    return engine
  }

  // async: an unloaded model or a bad parameter rejects like any other failure (the body up to the promise
  // below still runs synchronously, so a call is queued in the order it was made).
  async generate(
    input: GenerationInput,
    parameters: GenerationParameters,
    options: GenerateOptions = {},
  ): Promise<GenerationResult> {
    if (this.#thread.kind === 'closed')
      throw new GenerationError('unavailable', `model ${this.#spec.name} is unloaded`)
    const resolved = resolveParameters(parameters)
    const { signal, onChunk } = options
    const startedAt = performance.now()
    if (signal?.aborted) return emptyResult('cancelled', startedAt)
    return new Promise((resolve, reject) => {
      const call: Call = {
        id: this.#nextId++,
        input,
        parameters: resolved,
        onChunk,
        resolve,
        reject,
        signal,
        onAbort: () => this.#abort(call),
        text: '',
        promptTokens: 0,
        generated: 0,
        startedAt,
        firstTextAt: null,
        cancelled: false,
      }
      signal?.addEventListener('abort', call.onAbort, { once: true })
      this.#waiting.push(call)
      this.#dispatch()
    })
  }

  load(): GeneratorLoad {
    return { active: this.#running.size, waiting: this.#waiting.length }
  }

  /** Threads abandoned after a step overran its limit that are still running (each holds a core until its run returns). */
  get abandonedThreads(): number {
    return this.#abandoned.size
  }

  abandonedCalls(): readonly AbandonedCall[] {
    return [...this.#abandoned.values()]
  }

  condition(): ModelCondition {
    const thread = this.#thread
    switch (thread.kind) {
      case 'ready':
        return { kind: 'serving' }
      case 'starting':
        return {
          kind: 'recovering',
          reason: thread.reason ?? 'the generation thread is starting',
          attempt: thread.attempt,
          retryAt: Date.now(),
        }
      case 'backoff':
        return { kind: 'recovering', reason: thread.reason, attempt: thread.attempt, retryAt: thread.retryAt }
      case 'closed':
        return { kind: 'recovering', reason: 'unloaded', attempt: 0, retryAt: 0 }
    }
  }

  onConditionChange(listener: (condition: ModelCondition) => void): void {
    this.#conditionListener = listener
  }

  async unload(): Promise<void> {
    const thread = this.#thread
    if (thread.kind === 'closed') return
    this.#setThread({ kind: 'closed' })
    this.#disarmWatchdog()
    for (const call of this.#waiting.splice(0)) this.#settle(call, 'cancelled')
    for (const call of [...this.#running.values()]) this.#settle(call, 'cancelled')
    this.#running.clear()
    if (thread.kind === 'backoff') {
      clearTimeout(thread.timer)
      return
    }
    const { worker, abandoned } = thread
    if (exitedThreads.has(worker)) return
    const exited = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), this.#spec.stepTimeoutMs)
      worker.once('exit', () => {
        clearTimeout(timer)
        resolve(true)
      })
    })
    worker.postMessage({ type: 'close' } satisfies GenerationThreadRequest)
    // The thread exits by itself after its current step; one stuck in a run past the limit is abandoned.
    if (!(await exited)) this.#abandonThread(worker, abandoned)
  }

  /** Hands waiting calls to the thread while it has free sequence slots. */
  #dispatch(): void {
    const thread = this.#thread
    if (thread.kind !== 'ready') return
    while (this.#waiting.length > 0 && this.#running.size < this.#spec.maxSequences) {
      const call = this.#waiting.shift() as Call
      this.#running.set(call.id, call)
      thread.worker.postMessage({
        type: 'start',
        id: call.id,
        input: call.input,
        parameters: call.parameters,
      } satisfies GenerationThreadRequest)
      // Armed once from idle; only the thread's answers re-arm it, so a stream of new calls cannot hide a hang.
      if (!this.#watchdog) this.#armWatchdog()
    }
  }

  #abort(call: Call): void {
    const waiting = this.#waiting.indexOf(call)
    if (waiting >= 0) {
      this.#waiting.splice(waiting, 1)
      this.#settle(call, 'cancelled')
      return
    }
    if (!this.#running.has(call.id) || call.cancelled) return
    call.cancelled = true
    const thread = this.#thread
    // The thread ends it at the next step and answers `done` (usage included); the slot frees then.
    if (thread.kind === 'ready')
      thread.worker.postMessage({ type: 'cancel', id: call.id } satisfies GenerationThreadRequest)
  }

  #adopt(worker: Worker): void {
    worker.on('message', (reply: GenerationThreadReply) => {
      if (reply.type === 'step' && this.#isCurrent(worker)) this.#onStep(reply.events)
    })
    worker.on('error', (error) => {
      if (this.#isCurrent(worker)) this.#threadFailed(`the generation thread crashed: ${error.message}`)
    })
    worker.on('exit', (code) => {
      if (this.#isCurrent(worker)) this.#threadFailed(`the generation thread exited (code ${code})`)
    })
  }

  #isCurrent(worker: Worker): boolean {
    const thread = this.#thread
    return (thread.kind === 'ready' || thread.kind === 'starting') && thread.worker === worker
  }

  #onStep(events: readonly SequenceEvent[]): void {
    for (const event of events) {
      const call = this.#running.get(event.id)
      if (!call) continue
      switch (event.kind) {
        case 'started':
          call.promptTokens = event.promptTokens
          break
        case 'chunk':
          call.text += event.text
          call.generated = event.generated
          call.firstTextAt ??= performance.now()
          if (!call.cancelled) call.onChunk?.({ text: event.text })
          break
        case 'done':
          this.#running.delete(call.id)
          call.generated = event.usage.completion_tokens
          call.promptTokens = event.usage.prompt_tokens
          this.#settle(call, call.cancelled ? 'cancelled' : event.finishReason)
          break
        case 'error':
          this.#running.delete(call.id)
          this.#fail(call, new GenerationError(event.code, event.message, event.field))
          break
      }
    }
    if (this.#running.size > 0) this.#armWatchdog()
    else this.#disarmWatchdog()
    this.#dispatch()
  }

  #armWatchdog(): void {
    this.#disarmWatchdog()
    this.#watchdog = setTimeout(() => this.#stepTimedOut(), this.#spec.stepTimeoutMs)
  }

  #disarmWatchdog(): void {
    if (this.#watchdog) clearTimeout(this.#watchdog)
    this.#watchdog = null
  }

  /** The thread has work but has not answered within the step limit: give up on it, start another. */
  #stepTimedOut(): void {
    this.#watchdog = null
    const thread = this.#thread
    if (thread.kind !== 'ready') return
    const reason = `a generation step did not return within ${this.#spec.stepTimeoutMs} ms; the thread was abandoned and replaced`
    this.#abandonThread(thread.worker, thread.abandoned)
    this.#failRunning(new GenerationError('step_timeout', reason))
    this.#restart(1, reason)
  }

  /** The serving thread died (a thread that fails while starting is handled where it starts). */
  #threadFailed(reason: string): void {
    if (this.#thread.kind !== 'ready') return
    this.#disarmWatchdog()
    this.#failRunning(new GenerationError('engine_failed', reason))
    this.#restart(1, reason)
  }

  #failRunning(error: GenerationError): void {
    for (const call of [...this.#running.values()]) {
      if (call.cancelled) this.#settle(call, 'cancelled')
      else this.#fail(call, error)
    }
    this.#running.clear()
  }

  /** Starts a replacement thread; `attempt` counts consecutive failures. */
  #restart(attempt: number, reason: string): void {
    const { worker, abandoned, started } = spawnThread(this.#spec)
    this.#setThread({ kind: 'starting', worker, abandoned, attempt, reason })
    this.#adopt(worker)
    void started.then((start) => {
      if (!this.#isCurrent(worker)) return
      if (start.ok) {
        this.#setThread({ kind: 'ready', worker, abandoned })
        this.#dispatch()
      } else {
        this.#abandonThread(worker, abandoned)
        this.#backoff(attempt, `${reason}; the replacement failed: ${start.message}`)
      }
    })
  }

  /** Waits before the next attempt; calls waiting meanwhile fail rather than wait for a model that may not return. */
  #backoff(attempt: number, reason: string): void {
    const delay = Math.min(1000 * 2 ** (attempt - 1), MAX_BACKOFF_MS)
    const timer = setTimeout(() => this.#restart(attempt + 1, reason), delay)
    this.#setThread({ kind: 'backoff', attempt, retryAt: Date.now() + delay, reason, timer })
    for (const call of this.#waiting.splice(0)) this.#fail(call, new GenerationError('engine_failed', reason))
  }

  #abandonThread(worker: Worker, abandoned: SharedArrayBuffer): void {
    abandonThread(worker, abandoned)
    if (exitedThreads.has(worker)) return
    const { name, version } = this.#spec
    this.#abandoned.set(worker, {
      model: name,
      version,
      thread: threadNames.get(worker) ?? name,
      since: Date.now(),
    })
    worker.once('exit', () => this.#abandoned.delete(worker))
  }

  #setThread(thread: EngineThread): void {
    this.#thread = thread
    const next = this.condition()
    if (JSON.stringify(next) === JSON.stringify(this.#lastCondition)) return
    this.#lastCondition = next
    this.#conditionListener?.(next)
  }

  #settle(call: Call, finishReason: FinishReason): void {
    call.signal?.removeEventListener('abort', call.onAbort)
    const now = performance.now()
    call.resolve({
      text: call.text,
      finish_reason: finishReason,
      usage: { prompt_tokens: call.promptTokens, completion_tokens: call.generated },
      timings: {
        first_token_ms: call.firstTextAt === null ? null : call.firstTextAt - call.startedAt,
        total_ms: now - call.startedAt,
      },
    })
  }

  #fail(call: Call, error: Error): void {
    call.signal?.removeEventListener('abort', call.onAbort)
    call.reject(error)
  }
}

function emptyResult(finishReason: FinishReason, startedAt: number): GenerationResult {
  return {
    text: '',
    finish_reason: finishReason,
    usage: { prompt_tokens: 0, completion_tokens: 0 },
    timings: { first_token_ms: null, total_ms: performance.now() - startedAt },
  }
}

/** Threads that have exited (an exited thread emits no second `exit`, so it must not be waited for). */
const exitedThreads = new WeakSet<Worker>()
/** Each thread's name (`generate:MODEL:VERSION#N`, N counting the model's threads), as diagnostics show it. */
const threadNames = new WeakMap<Worker, string>()
/** Threads started per model version, for their names. */
const threadCounts = new Map<string, number>()

type ThreadStart = { ok: true; limits: ThreadLimits } | { ok: false; message: string }

/** Starts a generation thread and learns whether its model loaded (within `loadTimeoutMs`). */
function spawnThread(spec: OnnxGenerationSpec): {
  worker: Worker
  abandoned: SharedArrayBuffer
  started: Promise<ThreadStart>
} {
  const abandoned = new SharedArrayBuffer(4)
  const workerData: GenerationThreadData = {
    files: spec.files,
    threads: spec.threads,
    contextLength: spec.contextLength,
    maxSequences: spec.maxSequences,
    defaultMaxTokens: spec.defaultMaxTokens,
    prefillChunkTokens: spec.prefillChunkTokens,
    abandoned,
    faults: spec.faults,
  }
  const key = `${spec.name}:${spec.version}`
  const n = threadCounts.get(key) ?? 0
  threadCounts.set(key, n + 1)
  const name = `generate:${key}#${n}`
  const worker = new Worker(spec.threadEntry, { workerData, name })
  threadNames.set(worker, name)
  worker.once('exit', () => exitedThreads.add(worker))
  const started = new Promise<ThreadStart>((resolve) => {
    const timer = setTimeout(
      () => done({ ok: false, message: `the model did not load within ${spec.loadTimeoutMs} ms` }),
      spec.loadTimeoutMs,
    )
    const onMessage = (reply: GenerationThreadReply) => {
      if (reply.type === 'ready') {
        recordThreadPriority(name, reply.priority)
        done({ ok: true, limits: reply.limits })
      } else if (reply.type === 'load-error') done({ ok: false, message: reply.message })
    }
    const onError = (error: Error) => done({ ok: false, message: error.message })
    const onExit = (code: number) =>
      done({ ok: false, message: `the thread exited with code ${code} before its model loaded` })
    const done = (start: ThreadStart) => {
      clearTimeout(timer)
      worker.off('message', onMessage)
      worker.off('error', onError)
      worker.off('exit', onExit)
      resolve(start)
    }
    worker.on('message', onMessage)
    worker.on('error', onError)
    worker.on('exit', onExit)
  })
  return { worker, abandoned, started }
}

/** Tells a thread to exit by itself after its current run, and stops it from keeping the process alive. */
function abandonThread(worker: Worker, abandoned: SharedArrayBuffer): void {
  Atomics.store(new Int32Array(abandoned), 0, 1)
  worker.postMessage({ type: 'close' } satisfies GenerationThreadRequest)
  worker.unref()
}
