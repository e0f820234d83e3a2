import type { Tensor } from '../backends/tensor.js'
import {
  ErrCancelled,
  ErrDeadlineExceeded,
  ErrInferenceFailed,
  ErrModelNotReady,
  ErrQueueFull,
} from '../errors.js'
import type { RegisteredModel } from '../models/model-registry.js'

/** Options of one scheduled inference. */
export interface RunOptions {
  outputNames?: readonly string[]
  /** Aborted when the client goes away: queued work is dropped, never run. */
  signal?: AbortSignal
  /** Milliseconds from now after which the caller gets a 504. */
  deadlineMs?: number
}

/** Called after every inference that ran, for metrics. */
export type InferenceObserver = (model: RegisteredModel, seconds: number, ok: boolean) => void

interface Job {
  inputs: Record<string, Tensor>
  outputNames: readonly string[] | undefined
  resolve: (outputs: Record<string, Tensor>) => void
  reject: (error: Error) => void
  /** Settles the job with an error once, removing it from the queue (deadline, cancel, unload). */
  fail: (error: Error) => void
  /** True once the caller has its answer (result, 504 or cancel); a late native result is then dropped. */
  settled: boolean
  cleanup: () => void
}

/**
 * Admission control for one model version: at most `parallelism` inferences run, at most `queueCapacity`
 * wait behind them in FIFO order, and anything beyond is refused at once (503 + Retry-After) so memory
 * never grows without bound. Deadlines and client cancellation apply while queued and while running.
 */
export class ModelQueue {
  #active = 0
  readonly #waiting: Job[] = []
  /** Exponentially weighted mean inference time, for the Retry-After estimate. */
  #meanSeconds = 0.05

  constructor(
    readonly model: RegisteredModel,
    readonly queueCapacity: number,
    readonly observe?: InferenceObserver,
  ) {}

  /** Inferences running now. */
  get active(): number {
    return this.#active
  }
  /** Inferences waiting. */
  get queued(): number {
    return this.#waiting.length
  }
  /** Inferences that can run at once. */
  get parallelism(): number {
    return this.model.model?.parallelism ?? 0
  }

  /** Seconds a refused client should wait before retrying: the time to drain the current queue. */
  get retryAfterSeconds(): number {
    const perSlot = (this.#waiting.length + this.#active) / Math.max(1, this.parallelism)
    return Math.max(1, Math.ceil(perSlot * this.#meanSeconds))
  }

  /** Runs one inference under admission control; see the class comment for the failure modes. */
  run(inputs: Record<string, Tensor>, options: RunOptions = {}): Promise<Record<string, Tensor>> {
    const { model } = this
    if (model.state !== 'ready' || !model.model) {
      return Promise.reject(
        new ErrModelNotReady(`${model.name}:${model.version}`, model.error ?? model.state),
      )
    }
    if (options.signal?.aborted) return Promise.reject(new ErrCancelled())
    if (this.#active >= this.parallelism && this.#waiting.length >= this.queueCapacity) {
      const error = new ErrQueueFull(model.name, this.#waiting.length)
      Object.assign(error, { retryAfterSeconds: this.retryAfterSeconds })
      return Promise.reject(error)
    }

    return new Promise((resolve, reject) => {
      const job: Job = {
        inputs,
        outputNames: options.outputNames,
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

      if (this.#active < this.parallelism) this.#start(job)
      else this.#waiting.push(job)
    })
  }

  /** Rejects everything still waiting (used when the model unloads). */
  rejectWaiting(error: Error): void {
    for (const job of [...this.#waiting]) job.fail(error)
  }

  #start(job: Job): void {
    const loaded = this.model.model
    if (!loaded) {
      job.fail(new ErrModelNotReady(`${this.model.name}:${this.model.version}`, this.model.state))
      return
    }
    this.#active++
    const started = performance.now()
    loaded.infer(job.inputs, job.outputNames).then(
      (outputs) => this.#finish(job, started, true, () => job.resolve(outputs)),
      (error: Error) =>
        this.#finish(job, started, false, () =>
          job.reject(new ErrInferenceFailed(`${this.model.name}:${this.model.version}`, error.message)),
        ),
    )
  }

  #finish(job: Job, started: number, ok: boolean, settle: () => void): void {
    const seconds = (performance.now() - started) / 1000
    this.#active--
    this.#meanSeconds = this.#meanSeconds * 0.9 + seconds * 0.1
    this.observe?.(this.model, seconds, ok)
    if (!job.settled) {
      job.settled = true
      job.cleanup()
      settle()
    }
    // Start the next waiting job; jobs that timed out or were cancelled have already left the queue.
    const next = this.#waiting.shift()
    if (next) this.#start(next)
  }
}
