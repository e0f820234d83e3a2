import { isPoolError, PoolError, PoolErrorCode } from './errors.js'
import type { CallOptions, SeedTasks, TaskResult } from './pool-types.js'

/** What `submit_task` runs tasks on: an `NpuWorkerPool` (or anything with its `executeTask`). */
export interface TaskRunner {
  executeTask<R = unknown>(type: string, data: unknown, options?: CallOptions): Promise<TaskResult<R>>
}

/** Settings of {@link NpuTaskQueue}. */
export interface NpuTaskQueueOptions {
  /** Tasks running at once (default 4). */
  concurrency?: number
  /** Tasks allowed to wait beyond those running; more are refused with `POOL_ERR_TASK_QUEUE_FULL` (default 100). */
  maxQueued?: number
  /** Default deadline per task, counted from `add` (waiting + running); 0 = none (default 30000). */
  timeoutMs?: number
  /** The pool `submit_task` sends tasks to. */
  pool?: TaskRunner
}

/** Per-task options of {@link NpuTaskQueue.add}. */
export interface TaskQueueAddOptions {
  /** Deadline of this task in ms from `add`; overrides the queue's default. */
  timeoutMs?: number
  /** Cancels the task: removed if waiting, its signal aborted if running. */
  signal?: AbortSignal
}

interface Job {
  run: (signal: AbortSignal) => Promise<unknown>
  resolve: (value: unknown) => void
  reject: (error: unknown) => void
  controller: AbortController
  timer: NodeJS.Timeout | null
  onAbort: (() => void) | null
  signal: AbortSignal | undefined
  state: 'queued' | 'running' | 'done'
}

/**
 * A small bounded task queue (the old `NPUTaskQueue`): at most `concurrency` tasks run, at most `maxQueued`
 * wait, and each has a deadline from the moment it was added. A task that times out or is aborted while
 * running gets its AbortSignal fired and the caller a rejection at once; its slot frees when the function
 * actually settles, so the concurrency bound holds even for functions that ignore the signal.
 *
 * ```ts
 * const queue = new NpuTaskQueue({ concurrency: 8, maxQueued: 200, timeoutMs: 10_000 })
 * const r = await queue.add((signal) => pool.executeTask('ocr', { image }, { signal }))
 * ```
 */
export class NpuTaskQueue {
  readonly #concurrency: number
  readonly #maxQueued: number
  readonly #timeoutMs: number
  readonly #pool: TaskRunner | null
  readonly #waiting: Job[] = []
  #head = 0
  #queued = 0
  #running = 0
  #idle: Array<() => void> = []

  constructor(options: NpuTaskQueueOptions = {}) {
    this.#concurrency = positiveInt(options.concurrency ?? 4, 'concurrency', 1)
    this.#maxQueued = positiveInt(options.maxQueued ?? 100, 'maxQueued', 0)
    this.#timeoutMs = positiveInt(options.timeoutMs ?? 30_000, 'timeoutMs', 0)
    this.#pool = options.pool ?? null
  }

  /**
   * The seeds' `queue.submit_task(type, data)`: runs `pool.executeTask(type, data)` under this queue's bounds.
   * Answers the seeds' envelope and never throws: a full queue, its deadline or an abort come back as
   * `{success: false, fallback: true, code}` like any failed task.
   */
  submit_task<K extends keyof SeedTasks>(
    type: K,
    data: SeedTasks[K]['input'],
    options?: TaskQueueAddOptions,
  ): Promise<TaskResult<SeedTasks[K]['result']>>
  submit_task<R = unknown>(type: string, data: unknown, options?: TaskQueueAddOptions): Promise<TaskResult<R>>
  async submit_task<R = unknown>(
    type: string,
    data: unknown,
    options: TaskQueueAddOptions = {},
  ): Promise<TaskResult<R>> {
    const pool = this.#pool
    if (pool === null)
      return {
        success: false,
        error: 'submit_task needs the queue built with a pool',
        code: PoolErrorCode.BAD_ARGUMENT,
        fallback: true,
        attempts: 0,
      }
    try {
      return await this.add((signal) => pool.executeTask<R>(type, data, { signal }), options)
    } catch (error) {
      if (!isPoolError(error)) throw error
      return { success: false, error: error.message, code: error.code, fallback: true, attempts: 0 }
    }
  }

  /** Tasks waiting to start. */
  get size(): number {
    return this.#queued
  }

  /** Tasks whose function is running. */
  get running(): number {
    return this.#running
  }

  /**
   * Queues `run`; resolves or rejects with its result. Rejects with a {@link PoolError}:
   * `POOL_ERR_TASK_QUEUE_FULL` at once when the queue is full, `POOL_ERR_TASK_TIMEOUT` when the deadline
   * passes, `POOL_ERR_ABORTED` when `signal` fires.
   */
  add<T>(run: (signal: AbortSignal) => Promise<T>, options: TaskQueueAddOptions = {}): Promise<T> {
    if (options.signal?.aborted)
      return Promise.reject(new PoolError(PoolErrorCode.ABORTED, 'aborted before it was queued'))
    const startsNow = this.#running < this.#concurrency && this.size === 0
    if (!startsNow && this.size >= this.#maxQueued) {
      return Promise.reject(
        new PoolError(
          PoolErrorCode.TASK_QUEUE_FULL,
          `task queue full: ${this.#running} running, ${this.size} waiting`,
        ),
      )
    }
    return new Promise<T>((resolve, reject) => {
      const job: Job = {
        run,
        resolve: resolve as (value: unknown) => void,
        reject,
        controller: new AbortController(),
        timer: null,
        onAbort: null,
        signal: options.signal,
        state: 'queued',
      }
      const timeoutMs = options.timeoutMs ?? this.#timeoutMs
      if (timeoutMs > 0) {
        job.timer = setTimeout(
          () =>
            this.#cancel(
              job,
              new PoolError(PoolErrorCode.TASK_TIMEOUT, `task deadline of ${timeoutMs} ms passed`),
            ),
          timeoutMs,
        )
      }
      if (options.signal) {
        job.onAbort = () => this.#cancel(job, new PoolError(PoolErrorCode.ABORTED, 'aborted by the caller'))
        options.signal.addEventListener('abort', job.onAbort, { once: true })
      }
      if (startsNow) this.#start(job)
      else {
        this.#waiting.push(job)
        this.#queued++
      }
    })
  }

  /** Resolves when nothing runs or waits. */
  onIdle(): Promise<void> {
    if (this.#running === 0 && this.size === 0) return Promise.resolve()
    return new Promise((resolve) => this.#idle.push(resolve))
  }

  #start(job: Job): void {
    job.state = 'running'
    this.#running++
    let result: Promise<unknown>
    try {
      result = Promise.resolve(job.run(job.controller.signal))
    } catch (error) {
      result = Promise.reject(error)
    }
    result.then(
      (value) => this.#finish(job, () => job.resolve(value)),
      (error) => this.#finish(job, () => job.reject(error)),
    )
  }

  #finish(job: Job, settle: () => void): void {
    this.#running--
    if (job.state !== 'done') {
      this.#cleanup(job)
      settle()
    }
    this.#next()
  }

  #cancel(job: Job, error: PoolError): void {
    if (job.state === 'done') return
    const wasRunning = job.state === 'running'
    this.#cleanup(job)
    if (wasRunning) job.controller.abort(error)
    job.reject(error)
    if (!wasRunning) {
      // A cancelled queued job stays in the array as 'done' and is skipped when it reaches the head.
      this.#queued--
      this.#compact()
      this.#notifyIdle()
    }
  }

  #cleanup(job: Job): void {
    job.state = 'done'
    if (job.timer) clearTimeout(job.timer)
    if (job.onAbort) job.signal?.removeEventListener('abort', job.onAbort)
  }

  #next(): void {
    while (this.#running < this.#concurrency && this.#head < this.#waiting.length) {
      const job = this.#waiting[this.#head++] as Job
      if (job.state === 'queued') {
        this.#queued--
        this.#start(job)
      }
    }
    this.#compact()
    this.#notifyIdle()
  }

  #notifyIdle(): void {
    if (this.#running !== 0 || this.#queued !== 0) return
    const idle = this.#idle
    this.#idle = []
    for (const resolve of idle) resolve()
  }

  #compact(): void {
    while (this.#head < this.#waiting.length && this.#waiting[this.#head]?.state === 'done') this.#head++
    if (this.#head > 1024 && this.#head * 2 > this.#waiting.length) {
      this.#waiting.splice(0, this.#head)
      this.#head = 0
    }
  }
}

function positiveInt(value: number, name: string, min: number): number {
  if (!Number.isInteger(value) || value < min) {
    throw new PoolError(
      PoolErrorCode.BAD_ARGUMENT,
      `${name} must be an integer ≥ ${min}, got ${String(value)}`,
    )
  }
  return value
}
