import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import type {
  BackendProbe,
  InferenceBackend,
  InferOptions,
  LoadedModel,
  ModelCondition,
  ModelLoadSpec,
  TensorInfo,
} from './backend.js'
import type { OnnxThreadData, OnnxThreadReply, OnnxThreadRequest } from './onnxruntime-thread.js'
import type { Tensor } from './tensor.js'
import { staticBatchSizes } from './tensor-batching.js'

/** Where the worker_threads entry is: beside this module once compiled, else the compiled copy in dist/. */
export function onnxThreadEntry(): URL {
  const beside = new URL('./onnxruntime-thread.js', import.meta.url)
  if (existsSync(beside)) return beside
  // Under vitest this module runs from src/backends/*.ts, where no .js sits beside it. Worker threads cannot
  // load TypeScript, so use the compiled entry under dist/backends/ (turbo builds before tests).
  const compiled = new URL('../../dist/backends/onnxruntime-thread.js', import.meta.url)
  if (existsSync(compiled)) return compiled
  throw new Error(
    `ONNX Runtime thread entry not found at ${fileURLToPath(beside)} or ${fileURLToPath(compiled)}: build the worker first`,
  )
}

/** One pending `infer` call. */
interface Job {
  id: number
  message: Extract<OnnxThreadRequest, { type: 'run' }>
  transfer: ArrayBuffer[]
  resolve: (outputs: Record<string, Tensor>) => void
  reject: (err: Error) => void
}

/** One worker thread with its own InferenceSession. */
interface ThreadSlot {
  worker: Worker
  state: 'starting' | 'idle' | 'busy' | 'dead'
  job: Job | null
  /** Uncaught error the thread reported before exiting, for the rejection message. */
  lastError: string | null
}

type ThreadStart = { ok: true; inputs: TensorInfo[]; outputs: TensorInfo[] } | { ok: false; message: string }

/** A model served by `spec.instances` worker threads, each with one ONNX Runtime session. */
export class OnnxRuntimeModel implements LoadedModel {
  readonly backend = 'onnxruntime' as const
  readonly device = 'CPU'
  readonly precision = 'FP32' as const
  readonly parallelism: number
  readonly compiledBatchSizes: readonly number[] | null
  readonly #spec: ModelLoadSpec
  readonly #entry: URL
  readonly #slots: ThreadSlot[] = []
  readonly #waiting: Job[] = []
  #nextId = 1
  #closing = false
  #onIdle: (() => void) | null = null
  readonly #onUnloaded: (model: OnnxRuntimeModel) => void
  #conditionListener: ((condition: ModelCondition) => void) | null = null
  #lastCondition: ModelCondition = { kind: 'serving' }

  private constructor(
    spec: ModelLoadSpec,
    entry: URL,
    readonly inputs: readonly TensorInfo[],
    readonly outputs: readonly TensorInfo[],
    onUnloaded: (model: OnnxRuntimeModel) => void,
  ) {
    this.#onUnloaded = onUnloaded
    this.#spec = spec
    this.#entry = entry
    this.parallelism = spec.instances
    this.compiledBatchSizes = staticBatchSizes(inputs)
  }

  /** Start every thread and wait until each has its session; rejects with the runtime's load error. */
  static async start(
    spec: ModelLoadSpec,
    entry: URL,
    onUnloaded: (model: OnnxRuntimeModel) => void = () => {},
  ): Promise<OnnxRuntimeModel> {
    const instances = Math.max(1, Math.floor(spec.instances))
    const workers = Array.from({ length: instances }, () => spawn(spec, entry))
    const starts = await Promise.all(workers.map(({ started }) => started))
    const failed = starts.find((s) => !s.ok)
    const first = starts[0]
    if (failed || !first?.ok) {
      await Promise.all(workers.map(({ worker }) => worker.terminate()))
      throw new Error(
        `ONNX Runtime could not load ${spec.modelPath}: ${failed && !failed.ok ? failed.message : ''}`,
      )
    }
    const model = new OnnxRuntimeModel({ ...spec, instances }, entry, first.inputs, first.outputs, onUnloaded)
    for (const { worker } of workers) model.#adopt(worker)
    return model
  }

  condition(): ModelCondition {
    const live = this.#slots.filter((s) => s.state === 'idle' || s.state === 'busy').length
    if (live === this.parallelism) return { kind: 'serving' }
    const dead = this.#slots.find((s) => s.state !== 'idle' && s.state !== 'busy')
    const reason = `${this.parallelism - live} of ${this.parallelism} ONNX Runtime threads down${dead?.lastError ? ` (${dead.lastError})` : ''}`
    if (live > 0) return { kind: 'impaired', live, reason }
    return { kind: 'recovering', reason, attempt: 1, retryAt: Date.now() }
  }

  onConditionChange(listener: (condition: ModelCondition) => void): void {
    this.#conditionListener = listener
  }

  /** Tells the listener when the condition changed since last told. */
  #conditionMayHaveChanged(): void {
    const next = this.condition()
    const previous = this.#lastCondition
    if (next.kind === previous.kind && JSON.stringify(next) === JSON.stringify(previous)) return
    this.#lastCondition = next
    this.#conditionListener?.(next)
  }

  /** The live worker threads, for diagnostics and for tests that kill one. */
  get workers(): readonly Worker[] {
    return this.#slots.filter((s) => s.state !== 'dead').map((s) => s.worker)
  }

  infer(
    inputs: Readonly<Record<string, Tensor>>,
    outputNames?: readonly string[],
    options: InferOptions = {},
  ): Promise<Record<string, Tensor>> {
    if (this.#closing) return Promise.reject(new Error(`model ${this.#spec.name} is unloading`))
    if (this.#slots.every((s) => s.state === 'dead')) {
      return Promise.reject(new Error(`every ONNX Runtime thread of model ${this.#spec.name} has died`))
    }
    const copies: Record<string, Tensor> = {}
    const transfer = new Set<ArrayBuffer>()
    for (const [name, tensor] of Object.entries(inputs)) {
      // Copy, then transfer the copy: the caller keeps its buffer, and the thread gets one without a second
      // copy. A caller that gives its buffers up (transferInputs) saves the copy; several tensors may view
      // one buffer, which is transferred once.
      const data = options.transferInputs ? tensor.data : tensor.data.slice()
      copies[name] = { datatype: tensor.datatype, shape: [...tensor.shape], data }
      transfer.add(data.buffer as ArrayBuffer)
    }
    return new Promise((resolve, reject) => {
      const id = this.#nextId++
      const message = { type: 'run', id, inputs: copies, outputNames: outputNames ?? null } as const
      this.#waiting.push({ id, message, transfer: [...transfer], resolve, reject })
      this.#dispatch()
    })
  }

  async unload(): Promise<void> {
    this.#closing = true
    if (this.#busy()) await new Promise<void>((resolve) => (this.#onIdle = resolve))
    await Promise.all(
      this.#slots.map(async (slot) => {
        if (slot.state === 'dead') return
        slot.state = 'dead'
        const exited = new Promise((resolve) => slot.worker.once('exit', resolve))
        slot.worker.postMessage({ type: 'close' } satisfies OnnxThreadRequest)
        // The thread releases its session and exits. Only an idle thread is ever terminated: terminating one
        // inside session.run aborts the whole process (onnxruntime-node throws a Napi::Error into a dead env).
        const timer = setTimeout(() => void slot.worker.terminate(), 10_000)
        await exited
        clearTimeout(timer)
      }),
    )
    this.#onUnloaded(this)
  }

  #busy(): boolean {
    return this.#waiting.length > 0 || this.#slots.some((s) => s.job !== null)
  }

  /** Hand waiting jobs to idle threads, in arrival order. */
  #dispatch(): void {
    for (const slot of this.#slots) {
      if (slot.state !== 'idle') continue
      const job = this.#waiting.shift()
      if (!job) break
      slot.state = 'busy'
      slot.job = job
      slot.worker.postMessage(job.message, job.transfer)
    }
    if (this.#onIdle && !this.#busy()) {
      this.#onIdle()
      this.#onIdle = null
    }
  }

  /** Take a started thread into the pool and watch it for replies and for death. */
  #adopt(worker: Worker, replacing?: ThreadSlot): void {
    const slot: ThreadSlot = replacing ?? { worker, state: 'idle', job: null, lastError: null }
    slot.worker = worker
    slot.state = 'idle'
    slot.lastError = null
    if (!replacing) this.#slots.push(slot)
    worker.on('message', (reply: OnnxThreadReply) => {
      const job = slot.job
      if ((reply.type !== 'result' && reply.type !== 'error') || !job || job.id !== reply.id) return
      slot.job = null
      if (slot.state === 'busy') slot.state = 'idle'
      if (reply.type === 'result') job.resolve(reply.outputs)
      else job.reject(new Error(reply.message))
      this.#dispatch()
    })
    worker.on('error', (err) => {
      slot.lastError = err.message
    })
    worker.on('exit', (code) => this.#onThreadExit(slot, worker, code))
    this.#conditionMayHaveChanged()
  }

  #onThreadExit(slot: ThreadSlot, worker: Worker, code: number): void {
    if (slot.worker !== worker) return
    const job = slot.job
    slot.job = null
    const wasClosing = slot.state === 'dead'
    slot.state = 'dead'
    if (job) {
      const why = slot.lastError ?? `exit code ${code}`
      job.reject(new Error(`ONNX Runtime thread of model ${this.#spec.name} died during inference (${why})`))
    }
    if (wasClosing || this.#closing) {
      this.#dispatch()
      return
    }
    this.#conditionMayHaveChanged()
    // Replace the thread so the model keeps its parallelism; queued jobs wait for the replacement.
    slot.state = 'starting'
    const replacement = spawn(this.#spec, this.#entry)
    slot.worker = replacement.worker
    void replacement.started.then((start) => {
      if (start.ok && !this.#closing) {
        this.#adopt(replacement.worker, slot)
      } else {
        slot.state = 'dead'
        void replacement.worker.terminate()
        if (!start.ok) slot.lastError = start.message
        if (this.#slots.every((s) => s.state === 'dead')) this.#failWaiting(slot.lastError)
        this.#conditionMayHaveChanged()
      }
      this.#dispatch()
    })
  }

  #failWaiting(reason: string | null): void {
    for (const job of this.#waiting.splice(0)) {
      job.reject(new Error(`every ONNX Runtime thread of model ${this.#spec.name} has died (${reason})`))
    }
  }
}

/** Start one thread and learn whether its session loaded. */
function spawn(spec: ModelLoadSpec, entry: URL): { worker: Worker; started: Promise<ThreadStart> } {
  const workerData: OnnxThreadData = { modelPath: spec.modelPath, threads: spec.threads }
  const worker = new Worker(entry, { workerData, name: `ort:${spec.name}:${spec.version}` })
  const started = new Promise<ThreadStart>((resolve) => {
    const onMessage = (reply: OnnxThreadReply) => {
      if (reply.type === 'ready') resolve({ ok: true, inputs: reply.inputs, outputs: reply.outputs })
      else if (reply.type === 'load-error') resolve({ ok: false, message: reply.message })
      else return
      cleanup()
    }
    const onError = (err: Error) => {
      resolve({ ok: false, message: err.message })
      cleanup()
    }
    const onExit = (code: number) => {
      resolve({ ok: false, message: `thread exited with code ${code} before its session was ready` })
      cleanup()
    }
    const cleanup = () => {
      worker.off('message', onMessage)
      worker.off('error', onError)
      worker.off('exit', onExit)
    }
    worker.on('message', onMessage)
    worker.on('error', onError)
    worker.on('exit', onExit)
  })
  return { worker, started }
}

/** ONNX Runtime on the CPU, with inference in worker threads. */
export class OnnxRuntimeBackend implements InferenceBackend {
  readonly name = 'onnxruntime' as const
  readonly #loaded = new Set<OnnxRuntimeModel>()

  async probe(): Promise<BackendProbe> {
    try {
      const { default: ort } = await import('onnxruntime-node')
      return {
        available: true,
        version: ort.env.versions.node ?? ort.env.versions.common,
        devices: ['CPU'],
        error: null,
      }
    } catch (err) {
      return {
        available: false,
        version: null,
        devices: [],
        error: `onnxruntime-node cannot be loaded: ${messageOf(err)}`,
      }
    }
  }

  async load(spec: ModelLoadSpec): Promise<LoadedModel> {
    if (spec.device !== 'CPU') throw new Error(`ONNX Runtime serves the CPU only, not ${spec.device}`)
    if (!spec.modelPath.toLowerCase().endsWith('.onnx')) {
      throw new Error(`ONNX Runtime reads ONNX files only, not ${spec.modelPath}`)
    }
    disableOrtTelemetry()
    const model = await OnnxRuntimeModel.start(spec, onnxThreadEntry(), (unloaded) =>
      this.#loaded.delete(unloaded),
    )
    this.#loaded.add(model)
    return model
  }

  async close(): Promise<void> {
    await Promise.all([...this.#loaded].map((model) => model.unload()))
  }
}

/**
 * ONNX Runtime reads ORT_DISABLE_TELEMETRY with getenv() when its environment is created, so it has to be in the
 * process environment before the first session. An explicit operator setting wins; otherwise telemetry is off.
 * (The JS API has no telemetry switch. Worker threads get a copy of process.env, so it is set here, on the
 * main thread, where assigning process.env reaches the real environment.)
 */
function disableOrtTelemetry(): void {
  process.env.ORT_DISABLE_TELEMETRY ??= '1'
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
