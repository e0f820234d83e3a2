import type { InferencePrecision } from '@npu-fleet/protocol'
import { elementCount, type TensorArray } from '@npu-fleet/protocol'
import { fromHalfBits, toHalfBits } from '../kserve/half-float.js'
import {
  type AbandonedCall,
  InferTimeoutError,
  type LoadedModel,
  type ModelCondition,
  type ModelLoadSpec,
  type TensorInfo,
} from './backend.js'
import type {
  OpenvinoRuntime,
  OvAsyncInferQueue,
  OvCompiledModel,
  OvElement,
  OvInferRequest,
  OvTensor,
} from './openvino-runtime.js'
import { numericData, type Tensor } from './tensor.js'
import { concatBatch, sliceBatch, staticBatchSizes } from './tensor-batching.js'

/**
 * How one model port is exchanged with openvino-node: the element type of the tensors passed and read, and
 * the conversion at the boundary. FP16 ports are exchanged as f32 and BOOL ports as u8 (a PrePostProcessor
 * step inside the model converts them), because the addon can neither create nor read f16 or boolean tensors
 * (helper.cpp get_supported_types).
 */
export interface PortPlan {
  info: TensorInfo
  element: OvElement
  convert: 'none' | 'f16' | 'bool'
}

/** The compiled model and its settings, and how to compile it again when it has to be recovered. */
export interface OpenvinoModelSetup {
  runtime: OpenvinoRuntime
  spec: ModelLoadSpec
  compiled: OvCompiledModel
  /** Compiles the same model again (same shapes, conversions and config). */
  recompile: () => Promise<OvCompiledModel>
  jobs: number
  precision: InferencePrecision
  inputs: PortPlan[]
  outputs: PortPlan[]
  onUnloaded: (model: OpenvinoModel) => void
}

/** One call on a native request. */
interface Job {
  tensors: Record<string, OvTensor>
  outputNames: readonly string[]
  /** The key the queue hands back to the callback. */
  userData: object
  /** A check that a new queue serves, not a caller's inference. */
  probe: boolean
  resolve: (outputs: Record<string, Tensor>) => void
  reject: (err: Error) => void
  timer?: NodeJS.Timeout
}

/** One AsyncInferQueue and the requests on it. A new one replaces it when a request never comes back. */
interface Generation {
  compiled: OvCompiledModel
  queue: OvAsyncInferQueue
  running: Set<Job>
  /** Keys of requests abandoned after the time limit (and when): each still holds a native request. */
  lost: Map<object, number>
  /** Numbers the queues of one model, for naming abandoned requests. */
  id: number
  retired: boolean
  released: boolean
}

/** Where the request pool stands; `condition()` is derived from it. */
type Stage =
  | { kind: 'serving' }
  /** A request was abandoned; a new queue on the same compiled model is being checked with one inference. */
  | { kind: 'replacing'; reason: string; attempt: number; probe: Generation; deadline: number }
  /** The device failed the check: the model is being compiled again. */
  | { kind: 'recompiling'; reason: string; attempt: number; since: number }
  /** Compiling failed: the next attempt is at `retryAt`. */
  | { kind: 'backoff'; reason: string; attempt: number; retryAt: number; timer: NodeJS.Timeout }
  | { kind: 'closed' }

/** First wait before compiling again, doubled per attempt up to the cap. */
const BACKOFF_BASE_MS = 1000
const BACKOFF_MAX_MS = 300_000
/** A recompile that takes longer is abandoned as failed (NPU compiles take seconds to a few minutes). */
const RECOMPILE_LIMIT_MS = 600_000

/**
 * Queues abandoned with a request that never came back. They are kept referenced for the life of the process
 * and never released: releasing a queue whose request completes later aborts the process (see
 * `OvAsyncInferQueue`), and a garbage-collected queue would destroy native requests that may still run.
 */
const ABANDONED = new Set<OvAsyncInferQueue>()

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

function sameCondition(a: ModelCondition, b: ModelCondition): boolean {
  return JSON.stringify(a) === JSON.stringify(b)
}

/** The addon wraps a typed array's whole ArrayBuffer (helper.cpp cast_to_tensor): copy views into their own. */
function wholeBuffer(data: TensorArray): TensorArray {
  return data.byteOffset === 0 && data.byteLength === data.buffer.byteLength ? data : data.slice()
}

/**
 * A model compiled by OpenVINO, served by an `AsyncInferQueue` of `jobs` native requests, with a hard time
 * limit on every inference. A request still running past `inferTimeoutMs` is abandoned (its caller gets
 * {@link InferTimeoutError}): the native request may never come back, so a new queue is made on the same
 * compiled model and checked with one inference before callers use it; if that fails too, the model is
 * compiled again, with backoff, until it serves. `condition()` says which of these is going on.
 */
export class OpenvinoModel implements LoadedModel {
  readonly backend = 'openvino' as const
  readonly device: string
  readonly compiledBatchSizes: readonly number[] | null
  readonly parallelism: number
  readonly precision: InferencePrecision
  readonly inputs: readonly TensorInfo[]
  readonly outputs: readonly TensorInfo[]
  readonly #setup: OpenvinoModelSetup
  readonly #name: string
  readonly #timeoutMs: number
  readonly #inputPlans: Map<string, PortPlan>
  readonly #outputPlans: Map<string, PortPlan>
  /** Jobs by the userData object given to startAsync. */
  readonly #jobs = new Map<object, Job>()
  /** Calls waiting for a free request, in order. */
  readonly #waiting: Job[] = []
  readonly #generations = new Set<Generation>()
  #active: Generation | null
  #stage: Stage = { kind: 'serving' }
  #closing = false
  #listener: ((condition: ModelCondition) => void) | null = null
  #lastCondition: ModelCondition = { kind: 'serving' }
  #onIdle: (() => void) | null = null
  #nextGeneration = 0

  constructor(setup: OpenvinoModelSetup) {
    this.#setup = setup
    this.#name = setup.spec.name
    this.#timeoutMs = setup.spec.inferTimeoutMs
    this.device = setup.spec.device
    this.parallelism = setup.jobs
    this.precision = setup.precision
    this.inputs = setup.inputs.map((p) => p.info)
    this.outputs = setup.outputs.map((p) => p.info)
    this.#inputPlans = new Map(setup.inputs.map((p) => [p.info.name, p]))
    this.#outputPlans = new Map(setup.outputs.map((p) => [p.info.name, p]))
    this.compiledBatchSizes = this.inputs.every((i) => !i.shape.includes(-1))
      ? staticBatchSizes(this.inputs)
      : null
    this.#active = this.#generation(setup.compiled)
  }

  condition(): ModelCondition {
    const stage = this.#stage
    switch (stage.kind) {
      case 'serving':
        return { kind: 'serving' }
      case 'replacing': {
        const live = this.#active ? this.#capacity(this.#active) : 0
        return live > 0
          ? { kind: 'impaired', live, reason: stage.reason }
          : { kind: 'recovering', reason: stage.reason, attempt: stage.attempt, retryAt: stage.deadline }
      }
      case 'recompiling':
        return { kind: 'recovering', reason: stage.reason, attempt: stage.attempt, retryAt: stage.since }
      case 'backoff':
        return { kind: 'recovering', reason: stage.reason, attempt: stage.attempt, retryAt: stage.retryAt }
      case 'closed':
        return { kind: 'recovering', reason: `${this.#name} is unloaded`, attempt: 0, retryAt: 0 }
    }
  }

  onConditionChange(listener: (condition: ModelCondition) => void): void {
    this.#listener = listener
  }

  async infer(
    inputs: Readonly<Record<string, Tensor>>,
    outputNames?: readonly string[],
  ): Promise<Record<string, Tensor>> {
    if (this.#closing) throw new Error(`model ${this.#name} is unloading`)
    this.#refuseWhileRecovering()
    // Everything is checked before it reaches the native queue: a tensor it refuses can cost a request slot
    // (older addons), and a request that fails inside may never settle.
    const wanted = outputNames ?? this.outputs.map((o) => o.name)
    for (const name of wanted) {
      if (!this.#outputPlans.has(name)) {
        throw new Error(`unknown output "${name}"; outputs: ${this.outputs.map((o) => o.name).join(', ')}`)
      }
    }
    const batch = this.#validate(inputs)
    const compiledBatch = this.compiledBatchSizes?.[0]
    if (compiledBatch === undefined || batch === compiledBatch) return this.#run(inputs, wanted)
    // A static batch-1 model (the NPU) runs a larger batch as that many batch-1 inferences.
    const parts = await Promise.all(
      Array.from({ length: batch }, (_, row) => {
        const rowInputs: Record<string, Tensor> = {}
        for (const [name, tensor] of Object.entries(inputs)) rowInputs[name] = sliceBatch(tensor, row, 1)
        return this.#run(rowInputs, wanted)
      }),
    )
    const outputs: Record<string, Tensor> = {}
    for (const name of wanted) outputs[name] = concatBatch(parts.map((part) => part[name]!))
    return outputs
  }

  async unload(): Promise<void> {
    if (this.#stage.kind === 'closed') return
    this.#closing = true
    // Pending calls finish first, for at most the time limit of one inference (each running one is bounded
    // by its own timer; calls still waiting for a request after that are failed).
    if (this.#busy()) {
      let timer: NodeJS.Timeout | undefined
      await Promise.race([
        new Promise<void>((resolve) => (this.#onIdle = resolve)),
        new Promise<void>((resolve) => (timer = setTimeout(resolve, this.#timeoutMs))),
      ])
      clearTimeout(timer)
      this.#onIdle = null
    }
    this.#failWaiting(`model ${this.#name} was unloaded before this call could run`)
    if (this.#stage.kind === 'backoff') clearTimeout(this.#stage.timer)
    this.#stage = { kind: 'closed' }
    for (const generation of this.#generations) this.#retire(generation)
    this.#setup.onUnloaded(this)
  }

  /** Check names, datatypes and shapes against the compiled model; returns the batch size of the request. */
  #validate(inputs: Readonly<Record<string, Tensor>>): number {
    for (const name of Object.keys(inputs)) {
      if (!this.#inputPlans.has(name)) {
        throw new Error(`unknown input "${name}"; inputs: ${this.inputs.map((i) => i.name).join(', ')}`)
      }
    }
    const batches = new Set<number>()
    const compiledBatch = this.compiledBatchSizes?.[0]
    for (const info of this.inputs) {
      const tensor = inputs[info.name]
      if (!tensor) throw new Error(`missing input "${info.name}"`)
      if (tensor.datatype !== info.datatype) {
        throw new Error(`input "${info.name}" is ${info.datatype}, got ${tensor.datatype}`)
      }
      if (tensor.data.length !== elementCount(tensor.shape)) {
        throw new Error(`input "${info.name}" has ${tensor.data.length} elements for shape [${tensor.shape}]`)
      }
      // A zero-sized dimension reaches no device: on some addons such a request never settles.
      if (tensor.shape.some((d) => d === 0)) {
        throw new Error(`input "${info.name}" has a zero-sized dimension in [${tensor.shape}]`)
      }
      const fits =
        tensor.shape.length === info.shape.length &&
        tensor.shape.every((d, axis) => {
          const bound = info.bounds?.[axis]
          if (bound && (d < bound[0] || d > bound[1])) return false
          return info.shape[axis] === -1 || info.shape[axis] === d || (axis === 0 && compiledBatch === 1)
        })
      if (!fits) {
        const bounds = info.bounds?.some((b) => b)
          ? ` within [${info.bounds.map((b, i) => (b ? `${b[0]}..${b[1]}` : info.shape[i])).join(',')}]`
          : ''
        throw new Error(
          `input "${info.name}" has shape [${tensor.shape}]; ${this.#name} is compiled on ${this.device} for [${info.shape}]${bounds} (-1 is dynamic)`,
        )
      }
      if (tensor.shape.length > 0) batches.add(tensor.shape[0]!)
    }
    if (compiledBatch === 1 && batches.size > 1) {
      throw new Error(`inputs have different batch sizes (${[...batches].join(', ')})`)
    }
    return [...batches][0] ?? 1
  }

  /** One inference on a request of the pool. */
  #run(
    inputs: Readonly<Record<string, Tensor>>,
    outputNames: readonly string[],
  ): Promise<Record<string, Tensor>> {
    const tensors: Record<string, OvTensor> = {}
    for (const [name, tensor] of Object.entries(inputs)) {
      const plan = this.#inputPlans.get(name)!
      tensors[name] = this.#toOv(plan, tensor.shape, numericData(tensor, `input "${name}"`))
    }
    return new Promise((resolve, reject) => {
      this.#waiting.push({ tensors, outputNames, userData: {}, probe: false, resolve, reject })
      this.#dispatch()
    })
  }

  #toOv(plan: PortPlan, shape: readonly number[], data: TensorArray): OvTensor {
    const { Tensor } = this.#setup.runtime
    // FP16 travels as half bits; the model takes f32 here and converts inside (PrePostProcessor).
    const payload =
      plan.convert === 'f16' ? Float32Array.from(data as Uint16Array, fromHalfBits) : wholeBuffer(data)
    return new Tensor(plan.element, [...shape], payload)
  }

  #fromOv(plan: PortPlan, tensor: OvTensor): Tensor {
    // getData() copies in current addons; the copy here keeps results intact should a version return a view
    // of request memory, which the request reuses for its next inference.
    const data = tensor.getData()
    const shape = [...tensor.getShape()]
    if (plan.convert === 'f16') {
      return { datatype: 'FP16', shape, data: Uint16Array.from(data as Float32Array, toHalfBits) }
    }
    if (plan.convert === 'bool') {
      return { datatype: 'BOOL', shape, data: Uint8Array.from(data as Uint8Array, (v) => (v ? 1 : 0)) }
    }
    const { datatype } = plan.info
    // planPort never plans a string port (openvino.ts): BYTES models are served by ONNX Runtime.
    if (datatype === 'BYTES') throw new Error(`output "${plan.info.name}" is a string tensor`)
    return { datatype, shape, data: data.slice() as TensorArray }
  }

  #generation(compiled: OvCompiledModel): Generation {
    const queue = new this.#setup.runtime.AsyncInferQueue(compiled, this.#setup.jobs)
    const generation: Generation = {
      compiled,
      queue,
      running: new Set(),
      lost: new Map(),
      id: this.#nextGeneration++,
      retired: false,
      released: false,
    }
    queue.setCallback((error, request, userData) => this.#settle(generation, userData, error, request))
    this.#generations.add(generation)
    return generation
  }

  /** Requests of `generation` free for a new call. */
  #capacity(generation: Generation): number {
    return this.#setup.jobs - generation.running.size - generation.lost.size
  }

  /** Starts waiting calls on free requests of the active queue. */
  #dispatch(): void {
    const active = this.#active
    while (active && !active.retired && this.#waiting.length > 0 && this.#capacity(active) > 0) {
      this.#start(active, this.#waiting.shift()!)
    }
    this.#checkIdle()
  }

  #start(generation: Generation, job: Job): void {
    this.#jobs.set(job.userData, job)
    generation.running.add(job)
    job.timer = setTimeout(() => this.#timedOut(generation, job), this.#timeoutMs)
    try {
      // The promise settles after the callback ran, which has settled the job already; a rejection (the
      // callback threw, or, on current addons, the request failed or refused a tensor) settles it otherwise.
      generation.queue.startAsync(job.tensors, job.userData).catch((err: unknown) => {
        this.#settle(generation, job.userData, err instanceof Error ? err : new Error(String(err)), null)
      })
    } catch (err) {
      // Older addons throw here, and the request taken for the call never returns to the pool.
      this.#abandon(
        generation,
        job,
        new Error(messageOf(err)),
        `a native request was lost: ${messageOf(err)}`,
      )
    }
  }

  /** The queue's callback (or the start promise's rejection): copy the outputs out, or pass the error on. */
  #settle(
    generation: Generation,
    userData: object,
    error: Error | null,
    request: OvInferRequest | null,
  ): void {
    const job = this.#jobs.get(userData)
    if (!job) {
      // A request abandoned after its time limit came back after all: its native request is free again.
      if (generation.lost.delete(userData)) {
        this.#releaseIfDone(generation)
        this.#notify()
        queueMicrotask(() => this.#dispatch())
      }
      return
    }
    this.#jobs.delete(userData)
    clearTimeout(job.timer)
    generation.running.delete(job)
    if (job.probe) {
      if (error || !request) this.#probeFailed(generation, error ?? new Error('no request'))
      else this.#probeSucceeded(generation)
    } else if (error || !request) {
      job.reject(new Error(messageOf(error)))
    } else {
      try {
        const outputs: Record<string, Tensor> = {}
        for (const name of job.outputNames) {
          outputs[name] = this.#fromOv(this.#outputPlans.get(name)!, request.getTensor(name))
        }
        job.resolve(outputs)
      } catch (err) {
        job.reject(new Error(messageOf(err)))
      }
    }
    this.#releaseIfDone(generation)
    // Start the next call once the addon has put this request back (it does so after the callback returns).
    queueMicrotask(() => this.#dispatch())
  }

  #timedOut(generation: Generation, job: Job): void {
    if (!this.#jobs.has(job.userData)) return
    this.#abandon(
      generation,
      job,
      new InferTimeoutError(this.#name, this.#timeoutMs),
      `a native inference did not settle within ${this.#timeoutMs} ms and was abandoned`,
    )
  }

  /** The job's native request is gone (hung, or lost by the addon): fail the job and restore capacity. */
  #abandon(generation: Generation, job: Job, error: Error, reason: string): void {
    this.#jobs.delete(job.userData)
    clearTimeout(job.timer)
    generation.running.delete(job)
    generation.lost.set(job.userData, Date.now())
    if (job.probe) this.#probeFailed(generation, error)
    else job.reject(error)
    if (generation === this.#active && this.#stage.kind === 'serving') this.#replace(reason, 1)
    this.#notify()
  }

  /** Makes a new queue on the active compiled model and checks it with one inference before it serves. */
  #replace(reason: string, attempt: number): void {
    const active = this.#active
    if (!active || this.#closing) return
    let probe: Generation
    try {
      probe = this.#generation(active.compiled)
    } catch (err) {
      this.#recompile(`${reason}; a new request queue could not be made: ${messageOf(err)}`, attempt + 1)
      return
    }
    this.#stage = { kind: 'replacing', reason, attempt, probe, deadline: Date.now() + this.#timeoutMs }
    this.#startProbe(probe)
    this.#notify()
  }

  /** One inference on zeros: the new queue serves if it comes back within the time limit. */
  #startProbe(generation: Generation): void {
    const tensors: Record<string, OvTensor> = {}
    for (const plan of this.#inputPlans.values()) {
      const shape = plan.info.shape.map((d, i) => (d > 0 ? d : Math.max(1, plan.info.bounds?.[i]?.[0] ?? 1)))
      const data = new (plan.convert === 'f16' ? Uint16Array : tensorArrayOf(plan.element))(
        elementCount(shape),
      )
      tensors[plan.info.name] = this.#toOv(plan, shape, data as TensorArray)
    }
    this.#start(generation, {
      tensors,
      outputNames: [],
      userData: {},
      probe: true,
      resolve: () => {},
      reject: () => {},
    })
  }

  #probeSucceeded(generation: Generation): void {
    const stage = this.#stage
    if (stage.kind !== 'replacing' || stage.probe !== generation) return
    if (this.#active && this.#active !== generation) this.#retire(this.#active)
    this.#active = generation
    this.#stage = { kind: 'serving' }
    this.#notify()
    queueMicrotask(() => this.#dispatch())
  }

  #probeFailed(generation: Generation, error: Error): void {
    const stage = this.#stage
    if (stage.kind !== 'replacing' || stage.probe !== generation) return
    this.#retire(generation)
    if (this.#active) this.#retire(this.#active)
    this.#active = null
    const detail = `${stage.reason}; the check of a new request queue failed: ${messageOf(error)}`
    // The first failed check recompiles at once; after a recompile the device is given time (each failed
    // check leaves a request behind, so retrying without pause would pile them up).
    if (stage.attempt <= 1) this.#recompile(detail, stage.attempt + 1)
    else this.#backoff(stage.reason, detail, stage.attempt + 1)
  }

  /** Waits before the next recompile: 1 s, doubled per attempt, up to {@link BACKOFF_MAX_MS}. */
  #backoff(reason: string, detail: string, attempt: number): void {
    if (this.#closing) return
    const delay = Math.min(BACKOFF_BASE_MS * 2 ** Math.max(0, attempt - 3), BACKOFF_MAX_MS)
    const timer = setTimeout(() => this.#recompile(reason, attempt), delay)
    timer.unref()
    this.#stage = { kind: 'backoff', reason: detail, attempt, retryAt: Date.now() + delay, timer }
    this.#failWaiting(
      `${this.#name} cannot serve on ${this.device} now: ${detail} (recovering, attempt ${attempt})`,
    )
    this.#notify()
  }

  /** Requests abandoned after their time limit that have not come back, across all of this model's queues. */
  abandonedCalls(): AbandonedCall[] {
    const calls: AbandonedCall[] = []
    for (const generation of this.#generations) {
      for (const since of generation.lost.values()) {
        calls.push({
          model: this.#name,
          version: this.#setup.spec.version,
          thread: `openvino:${this.#name}:${this.#setup.spec.version}@${this.device}#queue${generation.id}`,
          since,
        })
      }
    }
    return calls
  }

  /** Compiles the model again; on success a new queue is checked, on failure the next attempt backs off. */
  #recompile(reason: string, attempt: number): void {
    if (this.#closing) return
    this.#stage = { kind: 'recompiling', reason, attempt, since: Date.now() }
    this.#failWaiting(
      `${this.#name} cannot serve on ${this.device} now: ${reason} (recovering, attempt ${attempt})`,
    )
    this.#notify()
    let timer: NodeJS.Timeout | undefined
    const limit = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`recompiling did not finish within ${RECOMPILE_LIMIT_MS} ms`)),
        RECOMPILE_LIMIT_MS,
      )
      timer.unref()
    })
    Promise.race([this.#setup.recompile(), limit])
      .then((compiled) => {
        if (this.#closing) return
        const generation = this.#generation(compiled)
        this.#stage = {
          kind: 'replacing',
          reason,
          attempt,
          probe: generation,
          deadline: Date.now() + this.#timeoutMs,
        }
        this.#startProbe(generation)
        this.#notify()
      })
      .catch((err: unknown) => {
        this.#backoff(reason, `${reason}; compiling again failed: ${messageOf(err)}`, attempt + 1)
      })
      .finally(() => clearTimeout(timer))
  }

  #refuseWhileRecovering(): void {
    const stage = this.#stage
    if (stage.kind === 'recompiling' || stage.kind === 'backoff') {
      throw new Error(
        `${this.#name} cannot serve on ${this.device} now: ${stage.reason} (recovering, attempt ${stage.attempt})`,
      )
    }
  }

  #failWaiting(message: string): void {
    for (const job of this.#waiting.splice(0)) job.reject(new Error(message))
    this.#checkIdle()
  }

  /** A retired queue is released once nothing of it runs; one with abandoned requests never is. */
  #retire(generation: Generation): void {
    generation.retired = true
    this.#releaseIfDone(generation)
  }

  #releaseIfDone(generation: Generation): void {
    if (!generation.retired || generation.released) return
    if (generation.running.size > 0) return
    if (generation.lost.size > 0) {
      ABANDONED.add(generation.queue)
      return
    }
    ABANDONED.delete(generation.queue)
    generation.released = true
    this.#generations.delete(generation)
    generation.queue.release()
  }

  #busy(): boolean {
    if (this.#waiting.length > 0) return true
    for (const generation of this.#generations) {
      for (const job of generation.running) if (!job.probe) return true
    }
    return false
  }

  #checkIdle(): void {
    if (this.#onIdle && !this.#busy()) {
      this.#onIdle()
      this.#onIdle = null
    }
  }

  #notify(): void {
    if (this.#stage.kind === 'closed') return
    const next = this.condition()
    if (sameCondition(next, this.#lastCondition)) return
    this.#lastCondition = next
    this.#listener?.(next)
  }
}

/** Zeros of an exchange element type. */
function tensorArrayOf(element: OvElement): new (n: number) => TensorArray {
  switch (element) {
    case 'f32':
      return Float32Array
    case 'f64':
      return Float64Array
    case 'i8':
      return Int8Array
    case 'u8':
      return Uint8Array
    case 'i16':
      return Int16Array
    case 'u16':
      return Uint16Array
    case 'i32':
      return Int32Array
    case 'u32':
      return Uint32Array
    case 'i64':
      return BigInt64Array
    case 'u64':
      return BigUint64Array
  }
}
