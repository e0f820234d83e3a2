import { ThreadChannel, type ThreadExit, ThreadLostError } from '../threads/thread-channel.js'
import {
  type AbandonedCall,
  type BackendProbe,
  type InferenceBackend,
  type InferOptions,
  InferTimeoutError,
  type InstanceCounts,
  type LoadedModel,
  type ModelCondition,
  type ModelLoadSpec,
  type TensorInfo,
} from './backend.js'
import type { OnnxRunReply, OnnxRunRequest, OnnxSessionInfo, OnnxThreadData } from './onnxruntime-session.js'
import type { Tensor } from './tensor.js'
import { staticBatchSizes } from './tensor-batching.js'

// Why a stuck thread is abandoned, not terminated (checked here with a real native hang, an ONNX Loop that runs
// for minutes; test/backends/onnxruntime-recovery.test.ts keeps the evidence): `worker.terminate()` cannot interrupt
// `session.run`. It resolves only once `run` returns, and then onnxruntime-node throws a Napi::Error into the
// dying environment and the whole process aborts (SIGABRT, "terminate called after throwing an instance of
// 'Napi::Error'"). `process.exit()` ends in the same abort. So a thread past its limit is left to finish on its
// own, excluded from capacity and reported; a replacement serves in its place; server.ts ends a process that still
// has one with SIGKILL.

type SessionChannel = ThreadChannel<OnnxRunRequest, OnnxRunReply, OnnxSessionInfo>

/** Options of the ONNX Runtime backend. */
export interface OnnxRuntimeBackendOptions {
  /** The compiled thread entry (threads/thread-entries.ts), or a test entry standing in for it (src/testing/). */
  threadEntry: URL
  /** Given to every thread as `workerData.extra`: settings of an injected test entry. */
  threadExtra?: unknown
  /** Milliseconds before respawn attempt `n` (n >= 2) of a thread; the first attempt is immediate. */
  respawnDelayMs?: (attempt: number) => number
}

/** 250 ms, 500 ms, 1 s ... up to 30 s between attempts to restart a thread that will not start. */
export function defaultRespawnDelayMs(attempt: number): number {
  return Math.min(30_000, 250 * 2 ** Math.max(0, attempt - 2))
}

/** One pending `infer` call. */
interface Job {
  request: OnnxRunRequest
  transfer: ArrayBuffer[]
  /** InferOptions.recycleInputs: takes the input buffers the thread hands back. */
  recycleInputs: ((buffer: ArrayBuffer) => void) | undefined
  resolve: (outputs: Record<string, Tensor>) => void
  reject: (err: Error) => void
  settled: boolean
  /** A maintenance run (InferOptions.background): wakes no dormant slot, is not use for idle retirement. */
  background: boolean
}

/**
 * Why a slot is starting a thread: `demand`, a dormant slot woken because a request would wait (not a fault);
 * `refresh`, a dormant slot woken to take over from the last running thread once it has served and then stayed
 * idle for the timeout (not a fault: see #armRetirement); `recovery`, replacing a thread that was lost or
 * retrying one that did not start (the slot is out meanwhile).
 */
type StartCause = 'demand' | 'refresh' | 'recovery'

/** What one thread slot of a model is doing. */
type SlotState =
  /** No thread by design: not needed since load, or retired after the idle timeout. A waiting request wakes it. */
  | { kind: 'dormant' }
  /** A thread is creating its session (`attempt` counts starts since the slot last served). */
  | { kind: 'starting'; channel: SessionChannel; attempt: number; cause: StartCause }
  /**
   * Waiting for work; `usedAt` (epoch ms): when it last finished a request, or started; `served`: it has run a
   * request (not a maintenance run) since it started, so its session's arena may hold that traffic's peak.
   */
  | { kind: 'idle'; channel: SessionChannel; usedAt: number; served: boolean }
  /** Running `job`; `timer` fires at the hard limit; `usedAt` and `served` as they were when the job began. */
  | {
      kind: 'busy'
      channel: SessionChannel
      job: Job
      timer: NodeJS.Timeout
      usedAt: number
      served: boolean
    }
  /** No thread: the next start is attempt `attempt`, at `retryAt` (epoch ms). */
  | { kind: 'down'; attempt: number; retryAt: number; timer: NodeJS.Timeout; reason: string }
  | { kind: 'closed' }

interface Slot {
  readonly index: number
  state: SlotState
}

/** Everything a model needs from its backend, shared by the backend's models. */
interface ModelContext {
  entry: URL
  extra: unknown
  respawnDelayMs: (attempt: number) => number
  /** Calls abandoned by every model of the backend, still running. */
  abandoned: Set<AbandonedCall>
  onUnloaded: (model: OnnxRuntimeModel) => void
}

/**
 * A model served by up to `spec.instances` worker threads, each with one ONNX Runtime session. Every inference
 * has a hard limit (`spec.inferTimeoutMs`): past it the call rejects with InferTimeoutError, its thread is
 * abandoned (see the top of this file) and a new one takes its slot. A thread that dies is replaced at once, and
 * a replacement that cannot start is retried with backoff; `condition()` reports the live threads meanwhile.
 *
 * With `spec.instanceIdleTimeoutMs` set, only the first instance starts at load; the others are dormant. A call
 * that finds no idle thread waits in arrival order for whichever thread is idle first, and each waiting call
 * beyond the threads already starting wakes one dormant slot: the running threads keep taking the queue
 * meanwhile, so no call waits for a session load that a running thread could serve. A thread idle for the
 * timeout is retired (its thread ends, its isolate and session are freed) while another thread runs, so one
 * always does. Dormant slots still count as capacity: they are not faults, and a request that needs one gets it.
 */
export class OnnxRuntimeModel implements LoadedModel {
  readonly backend = 'onnxruntime' as const
  readonly device = 'CPU'
  readonly precision = 'FP32' as const
  readonly parallelism: number
  readonly compiledBatchSizes: readonly number[] | null
  readonly #spec: ModelLoadSpec
  readonly #context: ModelContext
  readonly #slots: Slot[]
  readonly #waiting: Job[] = []
  #closing = false
  #onIdle: (() => void) | null = null
  #conditionListener: ((condition: ModelCondition) => void) | null = null
  #lastCondition = JSON.stringify({ kind: 'serving' })
  /** The reason the last thread left service, for condition(). */
  #lastLoss: string | null = null
  /** This model's abandoned threads (their calls are also in the backend's shared set). */
  readonly #abandoned = new Map<SessionChannel, AbandonedCall>()
  /** Threads started per slot, so every thread has its own name (`#0`, then `#0.2`, `#0.3`...). */
  readonly #generations: number[] = []
  /** Idle time after which a thread beyond the last running one retires; null: always on. */
  readonly #idleTimeoutMs: number | null
  /** Fires when the next idle thread may be retired; null while nothing can be. */
  #retireTimer: NodeJS.Timeout | null = null

  private constructor(
    spec: ModelLoadSpec,
    context: ModelContext,
    readonly inputs: readonly TensorInfo[],
    readonly outputs: readonly TensorInfo[],
    channels: SessionChannel[],
  ) {
    this.#spec = spec
    this.#context = context
    this.parallelism = spec.instances
    this.#idleTimeoutMs = spec.instanceIdleTimeoutMs ?? null
    this.compiledBatchSizes = staticBatchSizes(inputs)
    const now = Date.now()
    this.#slots = Array.from({ length: spec.instances }, (_, index) => {
      const channel = channels[index]
      return {
        index,
        state: channel ? { kind: 'idle', channel, usedAt: now, served: false } : { kind: 'dormant' },
      }
    })
    channels.forEach((channel, index) => {
      this.#generations[index] = 1
      this.#watch(this.#slots[index] as Slot, channel)
    })
  }

  /**
   * Starts the threads that serve from the load (all `instances`, or only the first when instances start on
   * demand) and waits until each has its session; rejects with the runtime's load error.
   */
  static async start(
    spec: ModelLoadSpec,
    options: OnnxRuntimeBackendOptions,
    abandoned: Set<AbandonedCall> = new Set(),
    onUnloaded: (model: OnnxRuntimeModel) => void = () => {},
  ): Promise<OnnxRuntimeModel> {
    const instances = Math.max(1, Math.floor(spec.instances))
    const context: ModelContext = {
      entry: options.threadEntry,
      extra: options.threadExtra,
      respawnDelayMs: options.respawnDelayMs ?? defaultRespawnDelayMs,
      abandoned,
      onUnloaded,
    }
    const onDemand = spec.instanceIdleTimeoutMs != null
    const channels = Array.from({ length: onDemand ? 1 : instances }, (_, index) =>
      openSession(spec, context, index),
    )
    const starts = await Promise.all(channels.map((channel) => channel.started))
    const failed = starts.find((s) => !s.ok)
    const first = starts[0]
    if (failed || !first?.ok) {
      await Promise.all(channels.map((channel) => channel.terminate()))
      throw new Error(
        `ONNX Runtime could not load ${spec.modelPath}: ${failed && !failed.ok ? failed.message : ''}`,
      )
    }
    return new OnnxRuntimeModel(
      { ...spec, instances },
      context,
      first.info.inputs,
      first.info.outputs,
      channels,
    )
  }

  condition(): ModelCondition {
    // Out: lost and not back yet (down, or starting to replace it), or closed. Dormant slots and slots woken on
    // demand are not faults, and take requests (one that would wait wakes a dormant slot).
    let out = 0
    let running = 0
    for (const { state } of this.#slots) {
      if (state.kind === 'idle' || state.kind === 'busy') running++
      else if (!isAvailable(state)) out++
    }
    if (out === 0) return { kind: 'serving' }
    const reason = `${out} of ${this.parallelism} ONNX Runtime threads down${this.#lastLoss ? `: ${this.#lastLoss}` : ''}`
    if (running > 0) return { kind: 'impaired', live: this.parallelism - out, reason }
    let attempt = 1
    let retryAt = Number.POSITIVE_INFINITY
    for (const { state } of this.#slots) {
      if (state.kind === 'down' || state.kind === 'starting') attempt = Math.max(attempt, state.attempt)
      if (state.kind === 'down') retryAt = Math.min(retryAt, state.retryAt)
      if (state.kind === 'starting') retryAt = Math.min(retryAt, Date.now())
    }
    return { kind: 'recovering', reason, attempt, retryAt: Number.isFinite(retryAt) ? retryAt : Date.now() }
  }

  onConditionChange(listener: (condition: ModelCondition) => void): void {
    this.#conditionListener = listener
  }

  instanceCounts(): InstanceCounts {
    const counts = { running: 0, starting: 0, dormant: 0, down: 0, idleTimeoutMs: this.#idleTimeoutMs }
    for (const { state } of this.#slots) {
      if (state.kind === 'idle' || state.kind === 'busy') counts.running++
      else if (state.kind === 'starting') counts.starting++
      else if (state.kind === 'dormant') counts.dormant++
      else counts.down++
    }
    return counts
  }

  /** The threads serving now (idle or busy), for diagnostics and for tests that stop one. */
  get threads(): readonly SessionChannel[] {
    return this.#slots.flatMap(({ state }) =>
      state.kind === 'idle' || state.kind === 'busy' ? [state.channel] : [],
    )
  }

  infer(
    inputs: Readonly<Record<string, Tensor>>,
    outputNames?: readonly string[],
    options: InferOptions = {},
  ): Promise<Record<string, Tensor>> {
    if (this.#closing) return Promise.reject(new Error(`model ${this.#spec.name} is unloading`))
    if (!this.#canServeSoon()) return Promise.reject(this.#allDownError())
    const copies: Record<string, Tensor> = {}
    const transfer = new Set<ArrayBuffer>()
    for (const [name, tensor] of Object.entries(inputs)) {
      // Strings cannot be transferred: the message to the thread copies them.
      if (tensor.datatype === 'BYTES') {
        copies[name] = { datatype: 'BYTES', shape: [...tensor.shape], data: tensor.data }
        continue
      }
      // Copy, then transfer the copy: the caller keeps its buffer, and the thread gets one without a second
      // copy. A caller that gives its buffers up (transferInputs) saves the copy; several tensors may view
      // one buffer, which is transferred once.
      const data = options.transferInputs ? tensor.data : tensor.data.slice()
      copies[name] = { datatype: tensor.datatype, shape: [...tensor.shape], data }
      transfer.add(data.buffer as ArrayBuffer)
    }
    return new Promise((resolve, reject) => {
      this.#waiting.push({
        request: {
          inputs: copies,
          outputNames: outputNames ?? null,
          returnInputs: options.recycleInputs !== undefined && transfer.size > 0,
        },
        transfer: [...transfer],
        recycleInputs: options.recycleInputs,
        resolve,
        reject,
        settled: false,
        background: options.background === true,
      })
      this.#dispatch()
    })
  }

  /**
   * Lets running and queued calls finish (each within its hard limit), then ends every thread. A thread
   * abandoned inside `run` is not waited for: it ends on its own when `run` returns.
   */
  async unload(): Promise<void> {
    this.#closing = true
    if (this.#retireTimer) clearTimeout(this.#retireTimer)
    this.#retireTimer = null
    for (const slot of this.#slots) {
      if (slot.state.kind === 'down') clearTimeout(slot.state.timer)
      if (slot.state.kind === 'down' || slot.state.kind === 'dormant') slot.state = { kind: 'closed' }
    }
    this.#dispatch()
    if (this.#busy()) await new Promise<void>((resolve) => (this.#onIdle = resolve))
    await Promise.all(this.#slots.map((slot) => this.#closeSlot(slot)))
    this.#context.onUnloaded(this)
  }

  async #closeSlot(slot: Slot): Promise<void> {
    const { state } = slot
    if (state.kind === 'starting') await state.channel.started
    const current = slot.state
    slot.state = { kind: 'closed' }
    // Idle now: the thread releases its session and exits (terminated only if it does not within 10 s).
    if (current.kind === 'idle' || current.kind === 'starting') await current.channel.close(10_000)
  }

  #busy(): boolean {
    return this.#waiting.length > 0 || this.#slots.some((s) => s.state.kind === 'busy')
  }

  /** True while some thread serves or is starting, or a dormant slot can be woken. */
  #canServeSoon(): boolean {
    return this.#slots.some(
      (s) =>
        s.state.kind === 'idle' ||
        s.state.kind === 'busy' ||
        s.state.kind === 'starting' ||
        (s.state.kind === 'dormant' && !this.#closing),
    )
  }

  #allDownError(): Error {
    const condition = this.condition()
    const when =
      condition.kind === 'recovering' ? `; next start at ${new Date(condition.retryAt).toISOString()}` : ''
    return new Error(
      `every ONNX Runtime thread of model ${this.#spec.name} is down (${this.#lastLoss ?? 'closed'})${when}`,
    )
  }

  /** Hands waiting jobs to idle threads, in arrival order; wakes dormant slots for the jobs left waiting. */
  #dispatch(): void {
    for (const slot of this.#slots) {
      if (slot.state.kind !== 'idle') continue
      const job = this.#waiting.shift()
      if (!job) break
      this.#run(slot, slot.state, job)
    }
    if (this.#waiting.length > 0 && !this.#closing) this.#wakeForWaiting()
    if (this.#waiting.length > 0 && !this.#canServeSoon()) {
      const error = this.#allDownError()
      for (const job of this.#waiting.splice(0)) settle(job, () => job.reject(error))
    }
    if (this.#onIdle && !this.#busy()) {
      this.#onIdle()
      this.#onIdle = null
    }
  }

  /**
   * One dormant slot per waiting request that no starting thread will take (a thread starting as a
   * replacement takes one too). Maintenance runs wake none: they wait for a running thread.
   */
  #wakeForWaiting(): void {
    let uncovered = 0
    for (const job of this.#waiting) if (!job.background) uncovered++
    if (uncovered === 0) return
    for (const { state } of this.#slots) if (state.kind === 'starting') uncovered--
    for (const slot of this.#slots) {
      if (uncovered <= 0) return
      if (slot.state.kind !== 'dormant') continue
      this.#spawn(slot, 1, 'demand')
      uncovered--
    }
  }

  #run(slot: Slot, idle: Extract<SlotState, { kind: 'idle' }>, job: Job): void {
    const { channel, usedAt, served } = idle
    const timer = setTimeout(() => this.#timedOut(slot, channel, job), this.#spec.inferTimeoutMs)
    slot.state = { kind: 'busy', channel, job, timer, usedAt, served }
    const finish = (settleJob: () => void) => {
      const { state } = slot
      if (state.kind === 'busy' && state.job === job) {
        clearTimeout(state.timer)
        // A maintenance run is not use: it must not keep an idle thread from retiring.
        slot.state = job.background
          ? { kind: 'idle', channel, usedAt: state.usedAt, served: state.served }
          : { kind: 'idle', channel, usedAt: Date.now(), served: true }
        settle(job, settleJob)
        this.#dispatch()
        this.#armRetirement()
      } else if (this.#isAbandoned(channel)) {
        // The call came back after its limit: the thread is in JavaScript again and can end in order.
        this.#releaseAbandoned(channel)
      }
    }
    channel.call(job.request, job.transfer).then(
      ({ outputs, inputBuffers }) => {
        if (job.recycleInputs) for (const buffer of inputBuffers) job.recycleInputs(buffer)
        finish(() => job.resolve(outputs))
      },
      (error: Error) => {
        // A lost thread is handled by #watch (it rejects the job with how the thread died).
        if (error instanceof ThreadLostError) return
        finish(() => job.reject(error))
      },
    )
  }

  /** The hard limit passed: the caller gets InferTimeoutError, the thread is abandoned and replaced. */
  #timedOut(slot: Slot, channel: SessionChannel, job: Job): void {
    const { state } = slot
    if (state.kind !== 'busy' || state.job !== job) return
    settle(job, () => job.reject(new InferTimeoutError(this.#spec.name, this.#spec.inferTimeoutMs)))
    channel.unref()
    const call = {
      model: this.#spec.name,
      version: this.#spec.version,
      thread: channel.name,
      since: Date.now(),
    }
    this.#abandoned.set(channel, call)
    this.#context.abandoned.add(call)
    this.#lastLoss = `an inference on ${channel.name} did not return within ${this.#spec.inferTimeoutMs} ms (thread abandoned)`
    this.#replace(slot, 1)
  }

  #isAbandoned(channel: SessionChannel): boolean {
    return this.#abandoned.has(channel)
  }

  /** An abandoned thread came back (or ended): forget it, end it in order, and retry slots it held up. */
  #releaseAbandoned(channel: SessionChannel): void {
    const call = this.#abandoned.get(channel)
    if (call) this.#context.abandoned.delete(call)
    this.#abandoned.delete(channel)
    if (!channel.exit) void channel.close(10_000)
    for (const slot of this.#slots) {
      if (slot.state.kind === 'down' && !this.#closing) {
        clearTimeout(slot.state.timer)
        this.#spawn(slot, slot.state.attempt)
      }
    }
  }

  /** Watches a serving thread for its end: its job fails with how it died, and the slot gets a new thread. */
  #watch(slot: Slot, channel: SessionChannel): void {
    void channel.exited.then((exit) => {
      if (this.#isAbandoned(channel)) {
        this.#releaseAbandoned(channel)
        return
      }
      const { state } = slot
      if ((state.kind !== 'idle' && state.kind !== 'busy') || state.channel !== channel) return
      const why = describeExit(exit)
      this.#lastLoss = `thread ${channel.name} died (${why})`
      if (state.kind === 'busy') {
        clearTimeout(state.timer)
        const { job } = state
        settle(job, () =>
          job.reject(
            new Error(`ONNX Runtime thread of model ${this.#spec.name} died during inference (${why})`),
          ),
        )
      }
      this.#replace(slot, 1)
    })
  }

  /** Gives the slot a new thread now (attempt 1) or after the backoff of `attempt`. */
  #replace(slot: Slot, attempt: number): void {
    if (this.#closing) {
      slot.state = { kind: 'closed' }
      this.#dispatch()
      return
    }
    if (attempt <= 1) this.#spawn(slot, 1)
    else this.#down(slot, attempt, this.#lastLoss ?? 'thread down')
    this.#dispatch()
    this.#conditionMayHaveChanged()
  }

  /**
   * Arms the retirement timer for the idle thread that may retire first, while more than one thread runs and
   * none is armed (called whenever a thread turns idle, so the common path is two checks). With one thread
   * running, it arms the same timer for that thread's refresh instead, when it has served since it started and
   * a dormant slot can take over: ONNX Runtime's CPU arena keeps the peak of the traffic a session served
   * (onnxruntime-node exposes no arena shrinkage), so a fresh session in a fresh thread takes its place and the
   * old one retires. Measured pinned on the peers' two models (MLP and detector JSON bursts), two runs of 4
   * alternating rounds against the code before: the detector's arena held ~22 MiB in two large mappings 30 s
   * after the burst; with the refresh, RSS 16 s after the burst x0.91 and x0.90, 35 s after x0.89 and x0.74;
   * idle RSS unchanged; the cost is one thread and session start per model and idle spell (0.4-0.7 s CPU for
   * both models).
   */
  #armRetirement(): void {
    const timeout = this.#idleTimeoutMs
    if (timeout === null || this.#retireTimer !== null || this.#closing) return
    let running = 0
    let starting = false
    let served = false
    let firstDue = Number.POSITIVE_INFINITY
    for (const { state } of this.#slots) {
      if (state.kind === 'busy') running++
      else if (state.kind === 'starting') starting = true
      else if (state.kind === 'idle') {
        running++
        served = state.served
        firstDue = Math.min(firstDue, state.usedAt + timeout)
      }
    }
    // One thread (idle, as firstDue is finite only then): a refresh, unless one is starting or cannot be had.
    const refresh = served && !starting && this.#slots.some((s) => s.state.kind === 'dormant')
    if (running === 0 || (running === 1 && !refresh) || !Number.isFinite(firstDue)) return
    this.#retireTimer = setTimeout(() => this.#retireIdle(), Math.max(0, firstDue - Date.now()))
    // An idle model must not keep the process alive.
    this.#retireTimer.unref()
  }

  /**
   * Retires threads idle for the timeout, the last slots first (dispatch favours the first ones), while another
   * thread runs: the slot turns dormant, and the thread releases its session and ends. A lone thread that is due
   * and has served gets a fresh one started beside it (#armRetirement says why); once that one runs, the next
   * pass retires the old one.
   */
  #retireIdle(): void {
    this.#retireTimer = null
    const timeout = this.#idleTimeoutMs
    if (timeout === null || this.#closing) return
    const now = Date.now()
    const runningSlots = this.#slots.filter((s) => s.state.kind === 'idle' || s.state.kind === 'busy')
    let running = runningSlots.length
    const lone = running === 1 ? runningSlots[0]?.state : undefined
    if (lone?.kind === 'idle' && lone.served && now - lone.usedAt >= timeout) {
      const dormant = this.#slots.find((s) => s.state.kind === 'dormant')
      if (dormant) this.#spawn(dormant, 1, 'refresh')
      return
    }
    let retired = false
    for (let i = this.#slots.length - 1; i >= 0 && running > 1; i--) {
      const slot = this.#slots[i] as Slot
      const { state } = slot
      if (state.kind !== 'idle' || now - state.usedAt < timeout) continue
      slot.state = { kind: 'dormant' }
      running--
      retired = true
      // Idle, so not inside `run`: it ends in order (the exit is not a loss: #watch sees the slot moved on).
      void state.channel.close(10_000)
    }
    if (retired) this.#conditionMayHaveChanged()
    this.#armRetirement()
  }

  #spawn(slot: Slot, attempt: number, cause: StartCause = 'recovery'): void {
    const stuck = this.#abandoned.size
    // Each abandoned thread may still burn a core inside `run`: with more than `instances` of them, wait for
    // one to return before starting more (at most twice the configured threads exist at any time).
    if (stuck > this.parallelism) {
      this.#down(
        slot,
        attempt + 1,
        `${stuck} threads are stuck in native inference; no more replacements until one returns`,
      )
      return
    }
    let channel: SessionChannel
    try {
      const generation = (this.#generations[slot.index] ?? 0) + 1
      this.#generations[slot.index] = generation
      channel = openSession(
        this.#spec,
        this.#context,
        generation === 1 ? slot.index : `${slot.index}.${generation}`,
      )
    } catch (error) {
      this.#down(slot, attempt + 1, (error as Error).message)
      return
    }
    slot.state = { kind: 'starting', channel, attempt, cause }
    this.#conditionMayHaveChanged()
    void channel.started.then((start) => {
      if (slot.state.kind !== 'starting' || slot.state.channel !== channel) return
      if (start.ok && !this.#closing) {
        slot.state = { kind: 'idle', channel, usedAt: Date.now(), served: false }
        this.#watch(slot, channel)
      } else if (start.ok) {
        return // unload() closes it
      } else {
        void channel.terminate()
        const what =
          cause === 'demand'
            ? 'a thread started on demand'
            : cause === 'refresh'
              ? 'a thread started to take over from an idle one'
              : 'a replacement thread'
        this.#lastLoss = `${what} could not start: ${start.message}`
        this.#down(slot, attempt + 1, this.#lastLoss)
      }
      this.#dispatch()
      this.#armRetirement()
      this.#conditionMayHaveChanged()
    })
  }

  /** No thread in the slot: try again after the backoff of `attempt`. */
  #down(slot: Slot, attempt: number, reason: string): void {
    if (this.#closing) {
      slot.state = { kind: 'closed' }
      return
    }
    const delay = this.#context.respawnDelayMs(attempt)
    const timer = setTimeout(() => {
      if (slot.state.kind === 'down' && slot.state.timer === timer) this.#spawn(slot, attempt)
    }, delay)
    timer.unref()
    slot.state = { kind: 'down', attempt, retryAt: Date.now() + delay, timer, reason }
    this.#dispatch()
    this.#conditionMayHaveChanged()
  }

  /** Tells the listener when the condition changed since it was last told. */
  #conditionMayHaveChanged(): void {
    const next = this.condition()
    const text = JSON.stringify(next)
    if (text === this.#lastCondition) return
    this.#lastCondition = text
    this.#conditionListener?.(next)
  }
}

/** True for a slot that serves or can: running, dormant, or woken on demand (not lost, not closed). */
function isAvailable(state: SlotState): boolean {
  switch (state.kind) {
    case 'idle':
    case 'busy':
    case 'dormant':
      return true
    case 'starting':
      return state.cause !== 'recovery'
    default:
      return false
  }
}

function settle(job: Job, how: () => void): void {
  if (job.settled) return
  job.settled = true
  how()
}

function describeExit(exit: ThreadExit): string {
  return exit.error ?? `exit code ${exit.code}`
}

/** Starts one session thread for a slot of a model; `id` names it (`0`, or `0.2` for the slot's second thread). */
function openSession(spec: ModelLoadSpec, context: ModelContext, id: number | string): SessionChannel {
  const workerData: OnnxThreadData = {
    modelPath: spec.modelPath,
    threads: spec.threads,
    model: { name: spec.name, version: spec.version },
    ...(context.extra !== undefined ? { extra: context.extra } : {}),
  }
  return ThreadChannel.open(context.entry, { name: `ort:${spec.name}:${spec.version}#${id}`, workerData })
}

/** ONNX Runtime on the CPU, with inference in worker threads. */
export class OnnxRuntimeBackend implements InferenceBackend {
  readonly name = 'onnxruntime' as const
  readonly #loaded = new Set<OnnxRuntimeModel>()
  readonly #abandoned = new Set<AbandonedCall>()

  constructor(readonly options: OnnxRuntimeBackendOptions) {}

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
    const model = await OnnxRuntimeModel.start(spec, this.options, this.#abandoned, (unloaded) =>
      this.#loaded.delete(unloaded),
    )
    this.#loaded.add(model)
    return model
  }

  async close(): Promise<void> {
    await Promise.all([...this.#loaded].map((model) => model.unload()))
  }

  abandonedCalls(): readonly AbandonedCall[] {
    return [...this.#abandoned]
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
