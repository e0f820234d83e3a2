import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionMessage,
  Completion,
  CompletionChunk,
  TaskResponse,
  TextGenerationResult,
} from '@npu-fleet/protocol'
import { DEFAULT_CONFIG_PATH } from './config/load-pool-config.js'
import type { LoadBalancingConfig, PoolConfig } from './config/pool-config.js'
import { AttemptDispatcher, type Validate } from './dispatch/attempt-dispatcher.js'
import { requestBody } from './dispatch/request-body.js'
import { taskValidator, validateBinaryInfer, validateInfer } from './dispatch/response-validators.js'
import {
  type GenerationKind,
  RoutedNeeds,
  TEXT_GENERATION_TASKS,
  taskModel,
} from './dispatch/routed-needs.js'
import { PoolError, PoolErrorCode, type StreamInterruptedError } from './errors.js'
import {
  type GenerationInput,
  type GenerationOptions,
  generationBody,
} from './generation/generation-request.js'
import {
  type Generated,
  validateChatCompletion,
  validateCompletion,
} from './generation/generation-validators.js'
import type { GenerationChunk } from './generation/stream-chunks.js'
import { relayStream, type StreamEnd } from './generation/stream-relay.js'
import { FleetHealth } from './health/fleet-health.js'
import { createDefaultLogger, type PoolLogger } from './logger.js'
import { ConfigWatch, DEFAULT_WATCH_INTERVAL_MS } from './membership/config-watch.js'
import { FleetMembership, type MembershipDiff } from './membership/fleet-membership.js'
import { PoolMetrics } from './metrics/pool-metrics.js'
import {
  logCircuitChange,
  logEjectionChange,
  logHealthTransition,
  logRetry,
  logTaskFailure,
} from './pool-log.js'
import type {
  CallOptions,
  GenerationResult,
  InferResult,
  NpuWorkerPoolOptions,
  PoolFailure,
  PoolInferOptions,
  PoolStats,
  ReloadResult,
  SeedTasks,
  TaskResult,
  WorkerHealthReport,
  WorkerSnapshot,
} from './pool-types.js'
import { RetryBudget } from './retry/retry-budget.js'
import { RetryPolicy } from './retry/retry-policy.js'
import { EjectionCap } from './selection/ejection-cap.js'
import { type RoutedNeed, WorkerLeases } from './selection/worker-leases.js'
import { poolStats, workerHealthReport, workerSnapshot } from './snapshots/pool-snapshots.js'
import { PoolCounters } from './stats/pool-counters.js'
import { OTHER_NEED, QueueWaits } from './stats/queue-waits.js'
import { encodeBinaryRequest } from './transport/binary-tensors.js'
import type { PoolWorker } from './workers/pool-worker.js'

const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/

/** The pool's lifecycle: one state, so "ready" before a config was loaded cannot be written. */
type Lifecycle =
  /** Built; nothing loaded yet. */
  | { readonly kind: 'new' }
  /** Loading the config and running the first health round. */
  | { readonly kind: 'initializing'; readonly done: Promise<void> }
  /** Serving. */
  | { readonly kind: 'ready' }
  /** Closed for good. */
  | { readonly kind: 'closed' }

type Outcome<T> =
  | { success: true; workerId: string; result: T; attempts: number; durationMs: number }
  | PoolFailure

/**
 * The fleet client: sends tasks (`POST /v1/tasks/{type}`) and KServe v2 inference to npu-workers, choosing
 * by health, priority, expected latency and circuit state, retrying elsewhere on worker failures, and
 * reloading its config without losing the state of workers that did not change. A facade that wires its
 * parts: membership (config, reload, watch), health checks, leases (selection, ejection cap, wait queue),
 * the attempt dispatcher under the retry policy, and the counters.
 */
export class NpuWorkerPool {
  readonly #options: NpuWorkerPoolOptions
  readonly #logger: PoolLogger
  readonly #configPath: string | null
  #lifecycle: Lifecycle = { kind: 'new' }
  readonly #counters = new PoolCounters()
  readonly #waits = new QueueWaits()
  readonly #needs = new RoutedNeeds()
  readonly #watch = new ConfigWatch()
  readonly #membership: FleetMembership
  readonly #ejections: EjectionCap
  readonly #health: FleetHealth<PoolWorker>
  readonly #leases: WorkerLeases<PoolWorker>
  readonly #budget: RetryBudget
  readonly #dispatcher: AttemptDispatcher
  readonly #policy: RetryPolicy
  readonly #metrics: PoolMetrics
  /** Set once the first health round is done: later "up" transitions are joins, and slow-start. */
  #joined = false
  #seq = 0

  /** A pool over the workers of `configPath` (or `config`); nothing happens until {@link initialize}. */
  constructor(options: NpuWorkerPoolOptions = {}) {
    this.#options = options
    const logger = options.logger ?? createDefaultLogger(options.env)
    this.#logger = logger
    const random = options.random ?? Math.random
    this.#configPath = options.config !== undefined ? null : (options.configPath ?? DEFAULT_CONFIG_PATH)
    const settings = () => this.#membership.settings
    this.#membership = new FleetMembership({
      configPath: this.#configPath,
      env: options.env ?? process.env,
      random,
      logger,
      onCircuitChange: (worker, state, detail) => {
        if (state === 'closed') worker.warmup.begin(Date.now(), settings().slowStartMs)
        logCircuitChange(logger, worker.id, state, { ...detail, reopens: worker.breaker.reopenCount })
        this.#changed()
      },
      onApplied: (config, diff) => this.#applied(config.loadBalancing, diff),
    })
    this.#ejections = new EjectionCap(settings().maxEjectionPercent)
    this.#health = new FleetHealth<PoolWorker>({
      workers: () => this.#membership.workers,
      settings,
      open: () => this.#lifecycle.kind !== 'closed',
      logger,
      random,
      onChecked: (worker, transition) => {
        logHealthTransition(logger, worker.id, transition, worker.health)
        if (transition === 'up' && this.#joined) worker.warmup.begin(Date.now(), settings().slowStartMs)
        this.#changed()
      },
    })
    this.#leases = new WorkerLeases<PoolWorker>({
      maxQueued: () => settings().maxQueuedTasks,
      isStale: (worker, now) => now - (worker.health.lastCheckAt ?? 0) > settings().healthStaleMs,
      check: (worker) => this.#health.check(worker),
      cap: this.#ejections,
    })
    this.#budget = new RetryBudget(budgetOf(settings()))
    const counters = this.#counters
    this.#dispatcher = new AttemptDispatcher({
      leases: this.#leases,
      settings,
      counters,
      waits: this.#waits,
      recheck: (worker) => void this.#health.check(worker),
    })
    this.#policy = new RetryPolicy({
      settings,
      budget: this.#budget,
      counters,
      onRetry: (n) => logRetry(logger, n),
    })
    this.#metrics = new PoolMetrics(
      {
        workers: () => this.#membership.workers,
        counters,
        waits: this.#waits,
        queuedTasks: () => this.#leases.waiting,
        panickingTiers: () => this.#ejections.tiers(),
      },
      options.registry,
    )
  }

  /** Loads the config, runs a first health round on every worker, starts background checks (and the file watch). */
  async initialize(): Promise<void> {
    const state = this.#lifecycle
    if (state.kind === 'ready') return
    if (state.kind === 'initializing') return state.done
    if (state.kind === 'closed') throw new PoolError(PoolErrorCode.CLOSED, 'cannot initialize a closed pool')
    const done = this.#initialize()
    this.#lifecycle = { kind: 'initializing', done }
    return done
  }

  async #initialize(): Promise<void> {
    let config: PoolConfig
    try {
      config = await this.#membership.read(this.#options.config)
    } catch (error) {
      this.#lifecycle = { kind: 'new' }
      throw error
    }
    for (const warning of config.warnings) this.#logger.warn({ source: config.source }, warning)
    this.#membership.apply(config)
    await this.#health.checkAll()
    if (this.#lifecycle.kind === 'closed') return
    this.#joined = true
    this.#health.start()
    const { watch } = this.#options
    if (watch && this.#configPath !== null && config.source.kind === 'file') {
      const intervalMs = (typeof watch === 'object' && watch.intervalMs) || DEFAULT_WATCH_INTERVAL_MS
      this.#watch.start(this.#configPath, intervalMs, () => void this.reloadConfig())
    }
    this.#lifecycle = { kind: 'ready' }
    const workers = this.#membership.workers
    const healthy = workers.filter((w) => w.enabled && w.health.up).length
    const fields = { workers: workers.length, healthy, source: config.source }
    if (healthy > 0) this.#logger.info(fields, 'npu pool initialized')
    else this.#logger.warn(fields, 'npu pool initialized with no healthy worker: tasks will fall back')
  }

  /**
   * Runs a task type on the best worker (`POST /v1/tasks/{type}` with `data` as the JSON body). Never throws.
   * The seeds' text tasks ({@link SeedTasks}) are typed, and their results checked against the protocol.
   */
  executeTask<K extends keyof SeedTasks>(
    type: K,
    data: SeedTasks[K]['input'],
    options?: CallOptions,
  ): Promise<TaskResult<SeedTasks[K]['result']>>
  executeTask<R = unknown>(type: string, data: unknown, options?: CallOptions): Promise<TaskResult<R>>
  async executeTask<R = unknown>(
    type: string,
    data: unknown,
    options: CallOptions = {},
  ): Promise<TaskResult<R>> {
    const started = performance.now()
    if (typeof type !== 'string' || !NAME_PATTERN.test(type))
      return reject(
        PoolErrorCode.BAD_ARGUMENT,
        `task type must match ${NAME_PATTERN}, got ${JSON.stringify(type)}`,
      )
    const need = this.#needs.task(type, taskModel(type, data))
    const tokens = TEXT_GENERATION_TASKS.has(type) ? taskTokens : undefined
    const outcome = await this.#run(need, data, taskValidator(type), options, started, tokens)
    if (!outcome.success) return outcome
    const { result, model, backend, device } = outcome.result
    return { ...outcome, result: result as R, model, backend, device }
  }

  /** KServe v2 inference on the best worker serving `model` (`POST /v2/models/{model}/infer`). Never throws. */
  infer(model: string, request: unknown, options: PoolInferOptions = {}): Promise<InferResult> {
    // Not async: the run's own promise is the call's (an async wrapper adopting it costs a promise and two
    // turns per request); what would throw still comes back as a rejection, as from an async function.
    try {
      const started = performance.now()
      const { version } = options
      const need =
        (version === undefined ? this.#needs.knownModel(model) : undefined) ?? this.#modelNeed(model, version)
      if (typeof need === 'string') return Promise.resolve(reject(PoolErrorCode.BAD_ARGUMENT, need))
      if (!options.binary) return this.#run(need, request, validateInfer, options, started)
      const encoded = encodeBinaryRequest(request)
      if (encoded === null)
        return Promise.resolve(
          reject(PoolErrorCode.BAD_ARGUMENT, 'request must be an object with an inputs array'),
        )
      return this.#run(need, encoded, validateBinaryInfer, options, started)
    } catch (error) {
      return Promise.reject(error)
    }
  }

  /** A chat completion on the best worker serving language model `model` (`POST /v1/chat/completions`). Never throws. */
  chat(
    model: string,
    messages: readonly ChatCompletionMessage[],
    options: GenerationOptions = {},
  ): Promise<GenerationResult<ChatCompletion>> {
    return this.#generate('chat', model, { kind: 'chat', messages }, options, validateChatCompletion)
  }

  /** A completion of `prompt` on the best worker serving `model` (`POST /v1/completions`). Never throws. */
  complete(
    model: string,
    prompt: string,
    options: GenerationOptions = {},
  ): Promise<GenerationResult<Completion>> {
    return this.#generate('completion', model, { kind: 'completion', prompt }, options, validateCompletion)
  }

  /**
   * A chat completion streamed chunk by chunk (`for await`): failed over to another worker until the first
   * chunk, never after it (then the iteration throws {@link StreamInterruptedError}, `POOL_ERR_STREAM_INTERRUPTED`,
   * with the text so far). Leaving the loop cancels the generation on the worker. Other failures throw a
   * {@link PoolError} with the same codes as `executeTask`'s.
   */
  stream(
    model: string,
    messages: readonly ChatCompletionMessage[],
    options: GenerationOptions = {},
  ): AsyncIterable<ChatCompletionChunk> {
    return this.#stream<ChatCompletionChunk>(model, { kind: 'chat', messages }, options)
  }

  /** A completion of `prompt` streamed chunk by chunk, under the same rules as {@link stream}. */
  streamCompletion(
    model: string,
    prompt: string,
    options: GenerationOptions = {},
  ): AsyncIterable<CompletionChunk> {
    return this.#stream<CompletionChunk>(model, { kind: 'completion', prompt }, options)
  }

  /** Pool-wide counters (a snapshot; reading it changes nothing). */
  getStats(): PoolStats {
    const { workers, draining } = this.#membership
    const panickingTiers = this.#ejections.tiers()
    return poolStats(this.#counters, { workers, draining, queuedTasks: this.#leases.waiting, panickingTiers })
  }

  /** Every configured worker's state, in config order (a snapshot; never includes tokens). */
  getWorkers(): WorkerSnapshot[] {
    const now = Date.now()
    return this.#membership.workers.map((w) => workerSnapshot(w, now))
  }

  /** The last `/health` body worker `id` answered (its reasons, per model), or null when no worker has that id. */
  workerHealthReport(id: string): WorkerHealthReport | null {
    const worker = this.#membership.workers.find((w) => w.id === id)
    return worker ? workerHealthReport(worker) : null
  }

  /** The pool's Prometheus metrics as exposition text, with its content type (from `registry`, or the pool's own). */
  async metrics(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.#metrics.contentType, body: await this.#metrics.text() }
  }

  /** The validated config in use (null before `initialize`). */
  get config(): PoolConfig | null {
    return this.#membership.config
  }

  /** Runs one health round on every worker now and waits for it. */
  async checkHealth(): Promise<void> {
    await this.#health.checkAll()
  }

  /**
   * Re-reads the config file (or applies `config`, a document in either YAML form). Unchanged workers keep
   * their breaker, counters and in-flight requests; removed ones drain and close; new ones are health-checked
   * before this resolves. An invalid config leaves the running one in place and reports why.
   */
  reloadConfig(config?: unknown): Promise<ReloadResult> {
    return this.#membership.reload(config, {
      ready: () => this.#lifecycle.kind === 'ready',
      state: () => this.#lifecycle.kind,
      checkAdded: async (workers) => {
        await Promise.all(workers.map((w) => this.#health.check(w)))
      },
    })
  }

  /** Stops checks and the file watch, fails waiting tasks with `POOL_ERR_CLOSED`, lets in-flight requests finish, closes connections. */
  async close(): Promise<void> {
    if (this.#lifecycle.kind === 'closed') return
    this.#lifecycle = { kind: 'closed' }
    this.#health.stop()
    this.#watch.stop()
    this.#leases.rejectAll(new PoolError(PoolErrorCode.CLOSED, 'the pool was closed'))
    for (const w of [...this.#membership.workers, ...this.#membership.draining]) this.#leases.forget(w)
    await this.#membership.close()
  }

  async #generate<T extends ChatCompletion | Completion>(
    kind: GenerationKind,
    model: string,
    input: GenerationInput,
    options: GenerationOptions,
    validate: Validate<Generated<T>>,
  ): Promise<GenerationResult<T>> {
    const started = performance.now()
    if (typeof model !== 'string' || !NAME_PATTERN.test(model))
      return reject(
        PoolErrorCode.BAD_ARGUMENT,
        `model name must match ${NAME_PATTERN}, got ${JSON.stringify(model)}`,
      )
    const body = generationBody(model, input, options, false)
    if (!body.ok) return reject(PoolErrorCode.BAD_ARGUMENT, body.message)
    const need = this.#needs.generation(kind, model)
    const outcome = await this.#run(need, body.request, validate, options, started, generationTokens)
    if (!outcome.success) return outcome
    const { value, backend, device } = outcome.result
    return { ...outcome, result: value, backend, device }
  }

  #stream<C extends GenerationChunk>(
    model: string,
    input: GenerationInput,
    options: GenerationOptions,
  ): AsyncIterable<C> {
    // Checked when iteration starts, so every failure reaches the caller the same way: thrown by the loop.
    const problem = this.#streamProblem(model, options)
    const body = problem === null ? generationBody(model, input, options, true) : null
    if (problem !== null || body === null || !body.ok) {
      const error =
        problem ??
        new PoolError(PoolErrorCode.BAD_ARGUMENT, body?.ok === false ? body.message : 'bad request')
      return {
        [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(error) }),
      }
    }
    const need = this.#needs.generation(input.kind, model)
    const timeoutMs = options.timeoutMs ?? this.#membership.settings.taskTimeoutMs
    const counters = this.#counters
    const logger = this.#logger
    const parts = {
      dispatcher: this.#dispatcher,
      policy: this.#policy,
      onEnd: (end: StreamEnd) => {
        const byNeed = counters.need(needLabel(need))
        if (end.attempts > 1) byNeed.retried += end.attempts - 1
        if (end.success) {
          counters.succeeded++
          byNeed.succeeded++
          return
        }
        counters.taskFailed(end.code)
        byNeed.failed++
        logTaskFailure(logger, end.code, {
          task: need.key,
          code: end.code,
          attempts: end.attempts,
          err: end.message,
        })
      },
    }
    return {
      [Symbol.asyncIterator]: () => {
        counters.started++
        counters.need(needLabel(need)).started++
        return relayStream<C>(parts, {
          need,
          kind: input.kind,
          body: body.body,
          deadline: Date.now() + timeoutMs,
          timeoutMs,
          seq: ++this.#seq,
          signal: options.signal,
          includeUsage: body.includeUsage,
        })
      },
    }
  }

  #streamProblem(model: string, options: GenerationOptions): PoolError | null {
    const state = this.#lifecycle.kind
    if (state === 'closed') return new PoolError(PoolErrorCode.CLOSED, 'the pool was closed')
    if (state !== 'ready') return new PoolError(PoolErrorCode.NOT_INITIALIZED, 'call initialize() first')
    if (typeof model !== 'string' || !NAME_PATTERN.test(model))
      return new PoolError(
        PoolErrorCode.BAD_ARGUMENT,
        `model name must match ${NAME_PATTERN}, got ${JSON.stringify(model)}`,
      )
    const { timeoutMs } = options
    if (timeoutMs !== undefined && (typeof timeoutMs !== 'number' || !(timeoutMs > 0)))
      return new PoolError(
        PoolErrorCode.BAD_ARGUMENT,
        `timeoutMs must be a positive number, got ${String(timeoutMs)}`,
      )
    return null
  }

  /** The need of an infer call after checking its names, or why they are refused. */
  #modelNeed(model: unknown, version: unknown): RoutedNeed | string {
    if (typeof model !== 'string' || !NAME_PATTERN.test(model))
      return `model name must match ${NAME_PATTERN}, got ${JSON.stringify(model)}`
    if (version !== undefined && (typeof version !== 'string' || !NAME_PATTERN.test(version)))
      return `version must match ${NAME_PATTERN}, got ${JSON.stringify(version)}`
    return this.#needs.model(model, version)
  }

  async #run<T>(
    need: RoutedNeed,
    data: unknown,
    validate: Validate<T>,
    options: CallOptions,
    started: number,
    generatedTokens?: (value: T) => number,
  ): Promise<Outcome<T>> {
    // Keeps the never-throws promise even if the pool itself has a bug: a try in the run, not a .catch on
    // its promise (one promise less per request).
    try {
      const state = this.#lifecycle.kind
      if (state === 'closed') return reject(PoolErrorCode.CLOSED, 'the pool was closed')
      if (state !== 'ready') return reject(PoolErrorCode.NOT_INITIALIZED, 'call initialize() first')
      const timeoutMs = options.timeoutMs ?? this.#membership.settings.taskTimeoutMs
      if (typeof timeoutMs !== 'number' || !(timeoutMs > 0))
        return reject(
          PoolErrorCode.BAD_ARGUMENT,
          `timeoutMs must be a positive number, got ${String(timeoutMs)}`,
        )
      const encoded = requestBody(data)
      if (!encoded.ok) return reject(PoolErrorCode.BAD_ARGUMENT, encoded.message)

      this.#counters.started++
      const byNeed = this.#counters.need(needLabel(need))
      byNeed.started++
      const { signal } = options
      const deadline = Date.now() + timeoutMs
      const call = { need, body: encoded.body, validate, deadline, signal, seq: ++this.#seq }
      const result = await this.#policy.execute<T, PoolWorker>(
        (tried) => this.#dispatcher.attempt(call, tried),
        {
          deadline,
          timeoutMs,
          signal,
        },
      )
      const durationMs = performance.now() - started
      if (result.attempts > 1) byNeed.retried += result.attempts - 1
      if (result.kind === 'success') {
        this.#counters.succeeded++
        byNeed.succeeded++
        const { worker, value, attempts } = result
        // A generation that was not streamed: its tokens count in the worker's generation stats (no decode rate).
        if (generatedTokens !== undefined) worker.generation.completed(generatedTokens(value), null)
        return { success: true, workerId: worker.id, result: value, attempts, durationMs }
      }
      const { code, message, attempts, details } = result
      this.#counters.taskFailed(code)
      byNeed.failed++
      const fields = {
        task: need.key,
        code,
        attempts,
        durationMs: Math.round(durationMs),
        err: message,
        ...details,
      }
      logTaskFailure(this.#logger, code, fields)
      return {
        success: false,
        error: message,
        code,
        fallback: true,
        attempts,
        ...(details ? { details } : {}),
      }
    } catch (error) {
      this.#logger.error(
        { task: need.key, err: (error as Error)?.stack ?? String(error) },
        'pool bug: task crashed',
      )
      return reject(PoolErrorCode.INTERNAL, `internal error: ${(error as Error)?.message ?? String(error)}`)
    }
  }

  /** A config was applied: the other parts follow its workers and settings. */
  #applied(lb: LoadBalancingConfig, diff: MembershipDiff): void {
    for (const w of diff.removed) this.#leases.forget(w)
    this.#leases.workers = this.#membership.workers
    this.#budget.configure(budgetOf(lb))
    this.#ejections.configure(lb.maxEjectionPercent)
    this.#health.setInterval(lb.healthCheckIntervalMs)
    this.#changed()
  }

  /** A circuit, a health verdict or the membership changed: recount ejections, wake waiting tasks. */
  #changed(): void {
    for (const change of this.#ejections.update(this.#membership.workers)) {
      if (change.panicking) this.#counters.panics++
      logEjectionChange(this.#logger, change, this.#membership.settings.maxEjectionPercent)
    }
    this.#leases.pump()
  }
}

/** The counters' label of a need: its key, or `other` past the memoised ones (a caller inventing names cannot grow memory). */
/** Tokens a seeds' text task generated (its result's usage, validated by the task's schema). */
const taskTokens = (response: TaskResponse): number =>
  (response.result as TextGenerationResult).usage.completion_tokens

/** Tokens a non-streamed chat or completion generated. */
const generationTokens = (generated: Generated<{ usage: { completion_tokens: number } }>): number =>
  generated.value.usage.completion_tokens

function needLabel(need: RoutedNeed): string {
  return need.index === -1 ? OTHER_NEED : need.key
}

/** A failure before anything was started (bad argument, pool not ready): not counted as a task. */
function reject(code: PoolErrorCode, message: string): PoolFailure {
  return { success: false, error: message, code, fallback: true, attempts: 0 }
}

function budgetOf(lb: LoadBalancingConfig) {
  return {
    ratio: lb.retryBudgetRatio,
    minRetries: lb.retryBudgetMinRetries,
    windowMs: lb.retryBudgetWindowMs,
  }
}
