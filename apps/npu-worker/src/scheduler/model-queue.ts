import type { Parameters } from '@npu-fleet/protocol'
import { InferTimeoutError } from '../backends/backend.js'
import type { Tensor } from '../backends/tensor.js'
import {
  ErrCancelled,
  ErrDeadlineExceeded,
  ErrInferenceFailed,
  ErrInferenceTimeout,
  ErrQueueFull,
} from '../errors.js'
import type { BatchingPolicy } from '../models/batching-policy.js'
import type { RegisteredModel } from '../models/registered-model.js'
import { AdmissionTicket } from './admission-ticket.js'
import type { CancelSignal } from './cancel-signal.js'
import { batchShape, mergeInputs, selectBatch, splitOutputs } from './dynamic-batcher.js'

/** Options of one scheduled inference. */
export interface RunOptions {
  outputNames?: readonly string[]
  /** Aborted when the client goes away: queued work is dropped, never run. */
  signal?: CancelSignal
  /** Milliseconds from now after which the caller gets a 504. */
  deadlineMs?: number
  /** The caller will not touch `inputs` again: a backend may transfer their buffers instead of copying. */
  transferInputs?: boolean
  /**
   * Takes back the input buffers a backend moved to another thread, once the inference is done with them
   * (InferOptions.recycleInputs); only for a request that runs alone, since merged inputs are a copy.
   */
  recycleInputs?: (buffer: ArrayBuffer) => void
  /** The request's own protocol parameters, handed to the backend; requests merge only with equal ones. */
  parameters?: Readonly<Parameters>
  /** The place the request was given before its body was read (ModelQueue.admit); run() takes it over. */
  ticket?: AdmissionTicket
}

/** How long one execution spent in each phase (Triton's compute split), in seconds. */
export interface ComputeTimes {
  /** Preparing its inputs: merging batch-mates, padding to a compiled batch size. */
  input: number
  /** The backend's inference. */
  infer: number
  /** Splitting the outputs back per request. */
  output: number
}

/** One model execution that ran (`ok`: it produced outputs that split back). */
export interface ExecutionRecord {
  ok: boolean
  /** Requests merged into it (1 when it ran alone). */
  requests: number
  /** Its batch size: the rows of its requests under dynamic batching, else 1. */
  batchSize: number
  compute: ComputeTimes
}

/** One request that got its answer or its error after entering the queue. */
export interface RequestRecord {
  ok: boolean
  /** Seconds from entering the queue to the answer. */
  seconds: number
  /** Inferences it asked for: its rows under dynamic batching, else 1. */
  inferences: number
  /** Seconds it waited in the queue (every wait, when it was re-run alone after a merged failure). */
  queueSeconds: number
  /** The compute phases of the execution that answered it; null when none did. */
  compute: ComputeTimes | null
}

/**
 * What a queue reports as its work happens: metrics/worker-metrics.ts records each event once, for both
 * `/metrics` and the statistics extension.
 */
export interface QueueObserver {
  /** A request's inference starts, after waiting `seconds` (a request re-run alone after its merged inference failed, once more). */
  queueWait(model: RegisteredModel, seconds: number): void
  /** One execution finished. */
  execution(model: RegisteredModel, record: ExecutionRecord): void
  /** One request settled. */
  request(model: RegisteredModel, record: RequestRecord): void
}

interface Job {
  inputs: Record<string, Tensor>
  outputNames: readonly string[] | undefined
  /** Batch rows (0: runs alone) and merge key, see dynamic-batcher.ts. */
  rows: number
  key: string
  /** Inferences it asks for, for the statistics: its rows under dynamic batching, else 1 (kept when `rows` is reset). */
  inferences: number
  /** When it was queued (performance.now()), for the batching delay and its statistics. */
  enqueuedAt: number
  /** When it last entered the queue (performance.now()): at first, or when put back to run alone. */
  waitingSince: number
  /** Seconds waited in the queue so far. */
  queueSeconds: number
  /** The compute phases of the execution that last ran it. */
  compute: ComputeTimes | null
  /** The caller gave its input buffers up (RunOptions.transferInputs). */
  transferInputs: boolean
  /** RunOptions.recycleInputs. */
  recycleInputs: ((buffer: ArrayBuffer) => void) | undefined
  /** RunOptions.parameters, or null when there are none. */
  parameters: Readonly<Parameters> | null
  resolve: (outputs: Record<string, Tensor>) => void
  reject: (error: Error) => void
  /** Settles the job with an error once, removing it from the queue (deadline, cancel, unload). */
  fail: (error: Error) => void
  /** True once the caller has its answer (result, 504 or cancel); a late native result is then dropped. */
  settled: boolean
  cleanup: () => void
}

/**
 * Admission control for one model version: at most `parallelism` inferences run (the slots that serve now:
 * fewer while its backend replaces a thread), at most `queueCapacity` wait behind them in FIFO order, and
 * anything beyond is refused at once (503 + Retry-After) so memory never grows without bound. Deadlines and
 * client cancellation apply while queued and while running. A model that cannot serve (loading, recovering,
 * failed) refuses new requests with 503; requests already waiting wait for it within their deadlines.
 *
 * With `batching:` in model.yaml, waiting requests that fit together are merged along the batch dimension
 * into one inference (up to the policy's rows, waiting at most its delay for batch-mates) and the outputs
 * split back. Each request keeps its own deadline and cancellation; if a merged inference fails, its
 * requests are run one by one, so one bad request never fails its batch-mates.
 */
export class ModelQueue {
  #active = 0
  #reserved = 0
  readonly #waiting: Job[] = []
  /** Exponentially weighted mean inference time, for the Retry-After estimate. */
  #meanSeconds = 0.05
  /** Timer that dispatches once the oldest request has waited the batching delay. */
  #delayTimer: NodeJS.Timeout | null = null

  constructor(
    readonly model: RegisteredModel,
    readonly queueCapacity: number,
    readonly observer?: QueueObserver,
  ) {
    // Capacity comes back (a replaced thread, a recovered model): start what waits for it.
    model.onStateChange(() => this.#dispatch())
  }

  /** Inferences running now. */
  get active(): number {
    return this.#active
  }
  /** Inferences waiting. */
  get queued(): number {
    return this.#waiting.length
  }
  /** Inferences that can run at once now (the model's live slots). */
  get parallelism(): number {
    return this.model.liveSlots()
  }

  /** Seconds a refused client should wait before retrying: the time to drain the current queue. */
  get retryAfterSeconds(): number {
    const perSlot = (this.#waiting.length + this.#active) / Math.max(1, this.parallelism)
    return Math.max(1, Math.ceil(perSlot * this.#meanSeconds))
  }

  /** Places held by requests whose bodies are still being read (see admit). */
  get reserved(): number {
    return this.#reserved
  }

  /**
   * Admission before the body is read: a ticket holding one place (running or waiting) for a request, or the
   * 503 it gets at once because every place is taken by inferences and by other tickets. The request then runs
   * with the ticket (RunOptions.ticket) or releases it.
   */
  admit(): AdmissionTicket | ErrQueueFull {
    const taken = this.#active + this.#waiting.length + this.#reserved
    if (taken >= this.parallelism + this.queueCapacity) {
      return new ErrQueueFull(this.model.name, this.#waiting.length, this.retryAfterSeconds)
    }
    this.#reserved++
    return new AdmissionTicket(() => {
      this.#reserved--
    })
  }

  /** Runs one inference under admission control; see the class comment for the failure modes. */
  run(inputs: Record<string, Tensor>, options: RunOptions = {}): Promise<Record<string, Tensor>> {
    // The held place becomes this job's: the checks below see it as the inference it now is.
    options.ticket?.release()
    const { model } = this
    if (!model.ready()) return Promise.reject(model.notReadyError())
    if (options.signal?.aborted) return Promise.reject(new ErrCancelled())
    if (this.#active >= this.parallelism && this.#waiting.length >= this.queueCapacity) {
      return Promise.reject(new ErrQueueFull(model.name, this.#waiting.length, this.retryAfterSeconds))
    }

    const policy = this.#batching()
    const parameters =
      options.parameters && Object.keys(options.parameters).length > 0 ? options.parameters : null
    const shape = policy ? batchShape(inputs, options.outputNames) : { rows: 0, key: '' }
    // A backend reads parameters per inference: only requests with the same ones can share one.
    if (parameters) shape.key += `|${JSON.stringify(parameters)}`
    return new Promise((resolve, reject) => {
      const job: Job = {
        inputs,
        outputNames: options.outputNames,
        rows: shape.rows,
        key: shape.key,
        inferences: Math.max(1, shape.rows),
        enqueuedAt: performance.now(),
        waitingSince: 0,
        queueSeconds: 0,
        compute: null,
        transferInputs: options.transferInputs === true,
        recycleInputs: options.recycleInputs,
        parameters,
        resolve,
        reject,
        fail: () => {},
        settled: false,
        cleanup: () => {},
      }
      const fail = (error: Error) => {
        if (job.settled) return
        job.settled = true
        job.cleanup()
        const index = this.#waiting.indexOf(job)
        if (index >= 0) this.#waiting.splice(index, 1)
        this.#record(job, false)
        reject(error)
      }
      const timer =
        options.deadlineMs !== undefined
          ? setTimeout(
              () => fail(new ErrDeadlineExceeded(options.deadlineMs)),
              Math.max(0, options.deadlineMs),
            )
          : undefined
      const onAbort = () => fail(new ErrCancelled())
      options.signal?.addEventListener('abort', onAbort, { once: true })
      job.cleanup = () => {
        if (timer) clearTimeout(timer)
        options.signal?.removeEventListener('abort', onAbort)
      }
      job.fail = fail
      job.waitingSince = job.enqueuedAt

      if (!policy && this.#active < this.parallelism) {
        this.#start([job])
        return
      }
      this.#waiting.push(job)
      this.#dispatch()
    })
  }

  /** Batching policy decided when the model loaded, or null (no `batching:` section, or it cannot batch). */
  #batching(): BatchingPolicy | null {
    return this.model.serving()?.batching.policy ?? null
  }

  /** Starts inferences while slots are free: one request each, or merged batches under a batching policy. */
  #dispatch(): void {
    while (this.#active < this.parallelism && this.#waiting.length > 0) {
      const policy = this.#batching()
      if (!policy) {
        this.#start([this.#waiting.shift() as Job])
        continue
      }
      const { indexes, rows } = selectBatch(this.#waiting, policy.maxRows)
      const head = this.#waiting[0] as Job
      const waitedMs = performance.now() - head.enqueuedAt
      const full = rows >= policy.maxRows || head.rows === 0 || policy.preferredRows.includes(rows)
      if (!full && waitedMs < policy.maxDelayMs) {
        this.#armDelay(policy.maxDelayMs - waitedMs)
        return
      }
      const jobs = indexes.map((i) => this.#waiting[i] as Job)
      // Remove from the back so the earlier indexes stay valid.
      for (let k = indexes.length - 1; k >= 0; k--) this.#waiting.splice(indexes[k] as number, 1)
      this.#start(jobs, policy)
    }
  }

  #armDelay(ms: number): void {
    if (this.#delayTimer) return
    this.#delayTimer = setTimeout(
      () => {
        this.#delayTimer = null
        this.#dispatch()
      },
      Math.max(0, ms),
    )
    this.#delayTimer.unref?.()
  }

  /** Rejects everything still waiting (used when the model unloads). */
  rejectWaiting(error: Error): void {
    for (const job of [...this.#waiting]) job.fail(error)
  }

  /** Runs `jobs` as one inference (merged when more than one, or padded to a compiled batch size). */
  #start(jobs: Job[], policy: BatchingPolicy | null = null): void {
    const loaded = this.model.ready()
    if (!loaded) {
      for (const job of jobs) job.fail(this.model.notReadyError())
      return
    }
    // Requests that timed out or were cancelled while queued have left the queue; late ones are dropped below.
    const live = jobs.filter((job) => !job.settled)
    if (live.length === 0) return
    this.#active++
    const started = performance.now()
    // Queue wait ends where execution starts (Triton's split): requests that left while waiting are not here.
    for (const job of live) {
      const waited = (started - job.waitingSince) / 1000
      job.queueSeconds += waited
      this.observer?.queueWait(this.model, waited)
    }
    const merged = live.length > 1 || (policy?.mode === 'padded' && (live[0] as Job).rows > 0)
    const padTo = policy?.mode === 'padded' ? policy.paddedRows : null
    const inputs = merged ? mergeInputs(live, padTo) : (live[0] as Job).inputs
    const totalRows = padTo ?? totalRowsOf(live)
    // Several requests merged are a fresh copy, so it can always be transferred; a lone request (even padded,
    // which may hand back its own tensor) only if its caller said so.
    const transferInputs = live.length > 1 || (live[0] as Job).transferInputs
    const { parameters } = live[0] as Job
    const inferStarted = performance.now()
    const execution = (inferEnded: number): ExecutionTiming => ({
      started,
      inferStarted,
      inferEnded,
      batchSize: Math.max(1, totalRowsOf(live)),
    })
    // Merged (or padded) inputs are a batch-sized copy that no later request body has the size of.
    const recycleInputs = merged ? undefined : (live[0] as Job).recycleInputs
    loaded
      .infer(inputs, (live[0] as Job).outputNames, {
        transferInputs,
        ...(parameters ? { parameters } : {}),
        ...(recycleInputs ? { recycleInputs } : {}),
      })
      .then(
        (outputs) => {
          const timing = execution(performance.now())
          let parts: Array<Record<string, Tensor>>
          try {
            parts = merged
              ? splitOutputs(
                  outputs,
                  live.map((job) => job.rows),
                  totalRows,
                )
              : [outputs]
          } catch {
            // The model does not batch along dimension 0 after all: stop merging for it (recorded on the model,
            // so /health says so), answer one by one.
            this.model.turnBatchingOff('outputs do not batch along dimension 0: turned off at runtime')
            this.#finish(timing, false, live, () => {
              if (live.length > 1) this.#runAlone(live)
              else {
                // A lone (padded) request: its inputs may have been handed over, and it ran as itself anyway.
                const job = live[0] as Job
                this.#settle(job, false, () =>
                  job.reject(
                    new ErrInferenceFailed(
                      `${this.model.name}:${this.model.version}`,
                      'outputs do not batch along dimension 0',
                    ),
                  ),
                )
              }
            })
            return
          }
          this.#finish(timing, true, live, () => {
            live.forEach((job, i) => {
              this.#settle(job, true, () => job.resolve(parts[i] as Record<string, Tensor>))
            })
          })
        },
        (error: Error) =>
          this.#finish(execution(performance.now()), false, live, () => {
            if (live.length > 1) this.#runAlone(live)
            else {
              const job = live[0] as Job
              const name = `${this.model.name}:${this.model.version}`
              this.#settle(job, false, () =>
                job.reject(
                  error instanceof InferTimeoutError
                    ? new ErrInferenceTimeout(name, error.timeoutMs)
                    : new ErrInferenceFailed(name, error.message),
                ),
              )
            }
          }),
      )
  }

  /**
   * A merged inference failed: its requests go back to the front of the queue marked to run alone, so the
   * one that caused the failure fails by itself and its batch-mates still get their answers.
   */
  #runAlone(jobs: Job[]): void {
    for (const job of jobs) {
      job.rows = 0
      job.key = ''
      job.waitingSince = performance.now()
    }
    this.#waiting.unshift(...jobs.filter((job) => !job.settled))
  }

  #settle(job: Job, ok: boolean, settle: () => void): void {
    if (job.settled) return
    job.settled = true
    job.cleanup()
    this.#record(job, ok)
    settle()
  }

  /** Reports a settled request; compute phases only for a success (Triton counts them per successful request). */
  #record(job: Job, ok: boolean): void {
    this.observer?.request(this.model, {
      ok,
      seconds: (performance.now() - job.enqueuedAt) / 1000,
      inferences: job.inferences,
      queueSeconds: job.queueSeconds,
      compute: ok ? job.compute : null,
    })
  }

  #finish(timing: ExecutionTiming, ok: boolean, jobs: readonly Job[], settle: () => void): void {
    const ended = performance.now()
    const compute: ComputeTimes = {
      input: (timing.inferStarted - timing.started) / 1000,
      infer: (timing.inferEnded - timing.inferStarted) / 1000,
      output: (ended - timing.inferEnded) / 1000,
    }
    for (const job of jobs) job.compute = compute
    const seconds = (ended - timing.started) / 1000
    this.#active--
    this.#meanSeconds = this.#meanSeconds * 0.9 + seconds * 0.1
    this.observer?.execution(this.model, { ok, requests: jobs.length, batchSize: timing.batchSize, compute })
    settle()
    this.#dispatch()
  }
}

/** performance.now() marks of one execution, for its {@link ComputeTimes}. */
interface ExecutionTiming {
  started: number
  inferStarted: number
  inferEnded: number
  batchSize: number
}

/** Rows of the requests of one execution (0 when none is batched). */
function totalRowsOf(jobs: readonly Job[]): number {
  return jobs.reduce((sum, job) => sum + job.rows, 0)
}
