import { statSync } from 'node:fs'
import { stat } from 'node:fs/promises'
import {
  type InferResponse,
  InferResponseSchema,
  type TaskResponse,
  TaskResponseSchema,
} from '@npu-fleet/protocol'
import { CircuitState } from './breaker/circuit-breaker.js'
import { DEFAULT_CONFIG_PATH, loadWorkerConfig } from './config/load-worker-config.js'
import { type LoadBalancingConfig, type PoolConfig, parseWorkerConfig } from './config/pool-config.js'
import { isPoolError, PoolError, PoolErrorCode } from './errors.js'
import { HealthMonitor } from './health/health-monitor.js'
import { probeHealth } from './health/health-probe.js'
import { createDefaultLogger, type PoolLogger } from './logger.js'
import type {
  CallOptions,
  InferOptions,
  InferResult,
  NpuWorkerPoolOptions,
  PoolFailure,
  PoolStats,
  ReloadResult,
  TaskResult,
  WorkerSnapshot,
} from './pool-types.js'
import {
  type AttemptOutcome,
  classifyResponse,
  classifyTransportError,
  type RetryableOutcome,
} from './retry/attempt-outcome.js'
import { RetryBudget } from './retry/retry-budget.js'
import { type Lease, type RoutedNeed, WorkerLeases } from './selection/worker-leases.js'
import { attachBinaryOutputs, EncodedBody, encodeBinaryRequest } from './transport/binary-tensors.js'
import { TransportError, type TransportResponse } from './transport/worker-transport.js'
import { MAX_MEMOISED_NEEDS, PoolWorker } from './workers/pool-worker.js'

const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/
const NOT_TRIED: readonly PoolWorker[] = []
// Needs are cached so the hot path builds no strings; past this many, new names are built per call (a caller
// inventing names cannot grow memory), and their index is -1 (workers then look them up each time).
const MAX_CACHED_NEEDS = MAX_MEMOISED_NEEDS
const DEFAULT_WATCH_INTERVAL_MS = 2000

type Validate<T> = (body: unknown, response?: TransportResponse) => T | null

const validateTask: Validate<TaskResponse> = (body) => {
  const parsed = TaskResponseSchema.safeParse(body)
  return parsed.success ? (parsed.data as TaskResponse) : null
}
const validateInfer: Validate<InferResponse> = (body) =>
  InferResponseSchema.safeParse(body).success ? (body as InferResponse) : null
/** The same, then the binary part put back into the outputs as typed arrays (null if it does not add up). */
const validateBinaryInfer: Validate<InferResponse> = (body, response) => {
  const parsed = validateInfer(body, response)
  if (parsed === null) return null
  return response?.binary ? attachBinaryOutputs(parsed, response.binary) : parsed
}

/**
 * The fleet client: sends tasks (`POST /v1/tasks/{type}`) and KServe v2 inference to npu-workers, choosing
 * by health, priority, load and circuit state, retrying elsewhere on worker failures, and reloading its
 * config without losing the state of workers that did not change.
 */
export class NpuWorkerPool {
  readonly #options: NpuWorkerPoolOptions
  readonly #logger: PoolLogger
  readonly #env: NodeJS.ProcessEnv
  readonly #random: () => number
  readonly #configPath: string | null
  #state: 'new' | 'initializing' | 'ready' | 'closed' = 'new'
  #initializing: Promise<void> | null = null
  #config: PoolConfig | null = null
  #lb: LoadBalancingConfig | null = null
  #workers: PoolWorker[] = []
  readonly #draining = new Set<PoolWorker>()
  readonly #leases: WorkerLeases
  readonly #monitor: HealthMonitor<PoolWorker>
  #budget: RetryBudget | null = null
  readonly #taskNeeds = new Map<string, RoutedNeed>()
  readonly #modelNeeds = new Map<string, RoutedNeed>()
  #seq = 0
  #needCount = 0
  #reloading: Promise<ReloadResult> | null = null
  /** The config-file poll (`watch` option), or null. */
  #watching: NodeJS.Timeout | null = null
  #watchTimer: NodeJS.Timeout | null = null
  readonly #stats = {
    started: 0,
    succeeded: 0,
    failed: 0,
    attempts: 0,
    failedAttempts: 0,
    retries: 0,
    retriesDenied: 0,
    failuresByCode: {} as Partial<Record<PoolErrorCode, number>>,
  }

  /** A pool over the workers of `configPath` (or `config`); nothing happens until {@link initialize}. */
  constructor(options: NpuWorkerPoolOptions = {}) {
    this.#options = options
    this.#logger = options.logger ?? createDefaultLogger(options.env)
    this.#env = options.env ?? process.env
    this.#random = options.random ?? Math.random
    this.#configPath = options.config !== undefined ? null : (options.configPath ?? DEFAULT_CONFIG_PATH)
    this.#leases = new WorkerLeases({
      maxQueued: () => this.#lb?.maxQueuedTasks ?? 0,
      isStale: (worker, now) => now - (worker.health.lastCheckAt ?? 0) > (this.#lb?.healthStaleMs ?? 0),
      check: (worker) => this.#monitor.check(worker),
    })
    this.#monitor = new HealthMonitor<PoolWorker>({
      intervalMs: 0,
      targets: () => this.#workers,
      check: (worker) => this.#checkHealth(worker),
      random: this.#random,
      onError: (worker, error) =>
        this.#logger.error(
          { worker: worker.id, err: (error as Error)?.stack ?? String(error) },
          'health check crashed',
        ),
    })
  }

  /** Loads the config, runs a first health round on every worker, starts background checks (and the file watch). */
  async initialize(): Promise<void> {
    if (this.#state === 'ready') return
    if (this.#state === 'initializing' && this.#initializing) return this.#initializing
    if (this.#state === 'closed') throw new PoolError(PoolErrorCode.CLOSED, 'cannot initialize a closed pool')
    this.#initializing = this.#initialize().finally(() => {
      this.#initializing = null
    })
    return this.#initializing
  }

  async #initialize(): Promise<void> {
    this.#state = 'initializing'
    let config: PoolConfig
    try {
      config = await this.#readConfig(this.#options.config)
    } catch (error) {
      this.#state = 'new'
      throw error
    }
    for (const warning of config.warnings) this.#logger.warn({ source: config.source }, warning)
    this.#apply(config)
    await this.#monitor.checkAll()
    if ((this.#state as string) === 'closed') return
    this.#monitor.start()
    if (this.#options.watch && this.#configPath !== null && config.source.kind === 'file')
      this.#startWatch(this.#configPath)
    this.#state = 'ready'
    const healthy = this.#workers.filter((w) => w.enabled && w.health.up).length
    const fields = { workers: this.#workers.length, healthy, source: config.source }
    if (healthy === 0)
      this.#logger.warn(fields, 'npu pool initialized with no healthy worker: tasks will fall back')
    else this.#logger.info(fields, 'npu pool initialized')
  }

  /** Runs a task type on the best worker (`POST /v1/tasks/{type}` with `data` as the JSON body). Never throws. */
  async executeTask<R = unknown>(
    type: string,
    data: unknown,
    options: CallOptions = {},
  ): Promise<TaskResult<R>> {
    const started = performance.now()
    if (typeof type !== 'string' || !NAME_PATTERN.test(type)) {
      return this.#reject(
        PoolErrorCode.BAD_ARGUMENT,
        `task type must match ${NAME_PATTERN}, got ${JSON.stringify(type)}`,
      )
    }
    const need = this.#need(this.#taskNeeds, 'task', type, type, `/v1/tasks/${type}`)
    const outcome = await this.#guard(need, () => this.#run(need, data, validateTask, options, started))
    if (!outcome.success) return outcome
    const envelope = outcome.result
    return {
      ...outcome,
      result: envelope.result as R,
      model: envelope.model,
      backend: envelope.backend,
      device: envelope.device,
    }
  }

  /** KServe v2 inference on the best worker serving `model` (`POST /v2/models/{model}/infer`). Never throws. */
  async infer(model: string, request: unknown, options: InferOptions = {}): Promise<InferResult> {
    const started = performance.now()
    if (typeof model !== 'string' || !NAME_PATTERN.test(model)) {
      return this.#reject(
        PoolErrorCode.BAD_ARGUMENT,
        `model name must match ${NAME_PATTERN}, got ${JSON.stringify(model)}`,
      )
    }
    const { version } = options
    if (version !== undefined && (typeof version !== 'string' || !NAME_PATTERN.test(version))) {
      return this.#reject(
        PoolErrorCode.BAD_ARGUMENT,
        `version must match ${NAME_PATTERN}, got ${JSON.stringify(version)}`,
      )
    }
    const need =
      version === undefined
        ? this.#need(this.#modelNeeds, 'model', model, model, `/v2/models/${model}/infer`)
        : this.#need(
            this.#modelNeeds,
            'model',
            model,
            `${model}/${version}`,
            `/v2/models/${model}/versions/${version}/infer`,
          )
    if (options.binary) {
      const encoded = encodeBinaryRequest(request)
      if (encoded === null) {
        return this.#reject(PoolErrorCode.BAD_ARGUMENT, 'request must be an object with an inputs array')
      }
      return this.#guard(need, () => this.#run(need, encoded, validateBinaryInfer, options, started))
    }
    return this.#guard(need, () => this.#run(need, request, validateInfer, options, started))
  }

  /** Pool-wide counters (a snapshot; reading it changes nothing). */
  getStats(): PoolStats {
    const s = this.#stats
    const finished = s.succeeded + s.failed
    let healthy = 0
    let available = 0
    let active = 0
    for (const w of this.#workers) {
      active += w.active
      if (!w.enabled || !w.health.up) continue
      healthy++
      if (w.breaker.state !== CircuitState.OPEN) available++
    }
    for (const w of this.#draining) active += w.active
    return {
      totalWorkers: this.#workers.length,
      healthyWorkers: healthy,
      availableWorkers: available,
      drainingWorkers: this.#draining.size,
      activeTasks: active,
      queuedTasks: this.#leases.waiting,
      totalTasksProcessed: finished,
      successRate: finished === 0 ? 1 : s.succeeded / finished,
      tasks: {
        started: s.started,
        succeeded: s.succeeded,
        failed: s.failed,
        inProgress: s.started - finished,
      },
      attempts: {
        total: s.attempts,
        failed: s.failedAttempts,
        retries: s.retries,
        retriesDeniedByBudget: s.retriesDenied,
      },
      failuresByCode: { ...s.failuresByCode },
    }
  }

  /** Every configured worker's state, in config order (a snapshot; never includes tokens). */
  getWorkers(): WorkerSnapshot[] {
    return this.#workers.map((w) => {
      const h = w.health
      return {
        id: w.id,
        url: w.config.url,
        priority: w.priority,
        enabled: w.enabled,
        maxConcurrentTasks: w.maxConcurrent,
        healthy: h.up,
        healthStatus: h.status,
        circuitState: w.breaker.state,
        circuitCooldownMs: w.breaker.cooldownMs,
        activeTasks: w.active,
        totalRequests: w.counters.requests,
        successes: w.counters.successes,
        failures: w.counters.failures,
        rejected: w.counters.rejected,
        deferred: w.counters.deferred,
        healthFailures: h.totalFailures,
        consecutiveHealthFailures: h.consecutiveFailures,
        lastHealthCheck: h.lastCheckAt === null ? null : new Date(h.lastCheckAt).toISOString(),
        lastHealthCheckAt: h.lastCheckAt,
        lastHealthError: h.lastError,
        protocolVersion: h.protocolVersion,
        refused: h.refused,
        lastHealthLatencyMs: h.lastLatencyMs,
        latency: w.latency.summary(),
        tasks: [...h.tasks].sort(),
        models: [...h.models].sort(),
        device: h.device,
        version: h.version,
        workerLoad: h.load,
      }
    })
  }

  /** The validated config in use (null before `initialize`). */
  get config(): PoolConfig | null {
    return this.#config
  }

  /** Runs one health round on every worker now and waits for it. */
  async checkHealth(): Promise<void> {
    await this.#monitor.checkAll()
  }

  /**
   * Re-reads the config file (or applies `config`, a document in either YAML form). Unchanged workers keep
   * their breaker, counters and in-flight requests; removed ones drain and close; new ones are health-checked
   * before this resolves. An invalid config leaves the running one in place and reports why.
   */
  async reloadConfig(config?: unknown): Promise<ReloadResult> {
    // One reload at a time: a file watch and an admin call must not interleave their diffs.
    const previous = this.#reloading ?? Promise.resolve(null)
    const run = previous.catch(() => null).then(() => this.#reload(config))
    this.#reloading = run
    try {
      return await run
    } finally {
      if (this.#reloading === run) this.#reloading = null
    }
  }

  /** Stops checks and the file watch, fails waiting tasks with `POOL_ERR_CLOSED`, lets in-flight requests finish, closes connections. */
  async close(): Promise<void> {
    if (this.#state === 'closed') return
    this.#state = 'closed'
    this.#monitor.stop()
    this.#stopWatch()
    this.#leases.rejectAll(new PoolError(PoolErrorCode.CLOSED, 'the pool was closed'))
    const closing: Promise<void>[] = []
    for (const w of [...this.#workers, ...this.#draining]) {
      w.breaker.dispose()
      if (w.backoffTimer) clearTimeout(w.backoffTimer)
      closing.push(w.transport.close().catch(() => undefined))
    }
    await Promise.all(closing)
  }

  /** Keeps the never-throws promise of executeTask/infer even if the pool itself has a bug. */
  #guard<T>(need: RoutedNeed, run: () => Promise<T | PoolFailure>): Promise<T | PoolFailure> {
    // A .catch on the promise, not an async wrapper: one promise less per request.
    return run().catch((error: unknown): PoolFailure => {
      this.#logger.error(
        { task: need.key, err: (error as Error)?.stack ?? String(error) },
        'pool bug: task crashed',
      )
      return {
        success: false,
        error: `internal error: ${(error as Error)?.message ?? String(error)}`,
        code: PoolErrorCode.INTERNAL,
        fallback: true,
        attempts: 0,
      }
    })
  }

  async #readConfig(document: unknown): Promise<PoolConfig> {
    if (document !== undefined) return parseWorkerConfig(document, { where: 'config object', env: this.#env })
    return loadWorkerConfig(this.#configPath ?? DEFAULT_CONFIG_PATH, { env: this.#env })
  }

  async #reload(document: unknown): Promise<ReloadResult> {
    const workersLoaded = this.#workers.length
    if (this.#state !== 'ready') {
      return {
        success: false,
        workersLoaded,
        message: `the pool is ${this.#state}`,
        code: PoolErrorCode.NOT_INITIALIZED,
      }
    }
    let config: PoolConfig
    try {
      if (document === undefined && this.#configPath === null) {
        throw new PoolError(
          PoolErrorCode.CONFIG_INVALID,
          'the pool was built from a config object: pass the new config to reloadConfig(config)',
        )
      }
      config = await this.#readConfig(document)
      // A file deleted under a running pool is a mistake, not a request to fall back to NPU_WORKER_URL.
      if (config.source.kind === 'env') {
        throw new PoolError(
          PoolErrorCode.CONFIG_INVALID,
          `${this.#configPath}: not found; keeping the current workers`,
        )
      }
    } catch (error) {
      const e = isPoolError(error)
        ? error
        : new PoolError(PoolErrorCode.CONFIG_INVALID, (error as Error).message)
      this.#logger.error(
        { code: e.code, err: e.message },
        'config reload failed; the previous config stays in effect',
      )
      return { success: false, workersLoaded, message: e.message, code: e.code }
    }
    // Closed while the file was being read: applying would open connections nobody closes.
    if (this.#state !== 'ready') {
      return {
        success: false,
        workersLoaded,
        message: 'the pool was closed',
        code: PoolErrorCode.CLOSED,
      }
    }
    const diff = this.#apply(config)
    await Promise.all(diff.added.map((w) => this.#monitor.check(w)))
    const message =
      `reloaded ${this.#workers.length} worker${this.#workers.length === 1 ? '' : 's'}: ` +
      `${diff.added.length} added, ${diff.removed.length} removed, ${diff.updated.length} updated, ${diff.unchanged.length} unchanged`
    this.#logger.info(
      {
        added: diff.added.map((w) => w.id),
        removed: diff.removed.map((w) => w.id),
        updated: diff.updated.map((w) => w.id),
      },
      message,
    )
    return { success: true, workersLoaded: this.#workers.length, message }
  }

  /** Makes `config` the running one; workers with the same id and URL keep their state. */
  #apply(config: PoolConfig): {
    added: PoolWorker[]
    removed: PoolWorker[]
    updated: PoolWorker[]
    unchanged: PoolWorker[]
  } {
    const lb = config.loadBalancing
    const previous = new Map(this.#workers.map((w) => [w.id, w]))
    const next: PoolWorker[] = []
    const added: PoolWorker[] = []
    const updated: PoolWorker[] = []
    const unchanged: PoolWorker[] = []
    for (const wc of config.workers) {
      const existing = previous.get(wc.id)
      if (existing !== undefined && existing.config.url === wc.url) {
        previous.delete(wc.id)
        const same = JSON.stringify(existing.config) === JSON.stringify(wc)
        const oldTransport = existing.reconfigure(wc, lb)
        if (oldTransport) void oldTransport.close().catch(() => undefined)
        ;(same ? unchanged : updated).push(existing)
        next.push(existing)
        continue
      }
      const worker = new PoolWorker(wc, lb, {
        random: this.#random,
        onStateChange: (state, detail) => this.#onCircuitChange(worker, state, detail),
      })
      added.push(worker)
      next.push(worker)
    }
    const removed = [...previous.values()]
    for (const w of removed) this.#retire(w)
    const byId = [...next].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    byId.forEach((w, i) => {
      w.idOrder = i
    })
    this.#config = config
    this.#lb = lb
    this.#workers = next
    this.#leases.workers = next
    const budget = {
      ratio: lb.retryBudgetRatio,
      minRetries: lb.retryBudgetMinRetries,
      windowMs: lb.retryBudgetWindowMs,
    }
    if (this.#budget === null) this.#budget = new RetryBudget(budget)
    else this.#budget.configure(budget)
    this.#monitor.setInterval(lb.healthCheckIntervalMs)
    this.#leases.pump()
    return { added, removed, updated, unchanged }
  }

  /** Takes a worker out of rotation; its in-flight requests finish, then its connections close. */
  #retire(worker: PoolWorker): void {
    worker.removed = true
    worker.breaker.dispose()
    if (worker.backoffTimer) clearTimeout(worker.backoffTimer)
    this.#draining.add(worker)
    void worker.transport
      .close()
      .catch(() => undefined)
      .finally(() => this.#draining.delete(worker))
  }

  async #checkHealth(worker: PoolWorker): Promise<void> {
    const lb = this.#lb
    if (lb === null || worker.removed) return
    const result = await probeHealth(
      worker.transport.healthClient,
      worker.config.basePath,
      lb.healthCheckTimeoutMs,
    )
    if (worker.removed || this.#state === 'closed') return
    const transition = worker.health.record(result, lb, Date.now())
    if (transition === 'refused') {
      this.#logger.warn(
        { worker: worker.id, reason: worker.health.refused },
        'worker refused: it does not answer /health as an npu-worker this pool can speak to; no traffic and no token go to it',
      )
    } else if (transition === 'down') {
      this.#logger.warn(
        { worker: worker.id, reason: worker.health.lastError },
        'worker marked down by health checks',
      )
    } else if (transition === 'up') {
      this.#logger.info(
        { worker: worker.id, status: worker.health.status },
        'worker marked up by health checks',
      )
    }
    this.#leases.pump()
  }

  #onCircuitChange(
    worker: PoolWorker,
    state: CircuitState,
    detail: { cooldownMs: number | null; failures: number },
  ): void {
    if (state === CircuitState.OPEN) {
      this.#logger.error(
        {
          worker: worker.id,
          failures: detail.failures,
          cooldownMs: detail.cooldownMs,
          reopens: worker.breaker.reopenCount,
        },
        'circuit opened: worker gets no traffic until the cooldown ends',
      )
    } else if (state === CircuitState.HALF_OPEN) {
      this.#logger.info({ worker: worker.id }, 'circuit half-open: the next request is a probe')
    } else {
      this.#logger.info({ worker: worker.id }, 'circuit closed: probe succeeded')
    }
    this.#leases.pump()
  }

  #need(
    cache: Map<string, RoutedNeed>,
    kind: 'task' | 'model',
    name: string,
    key: string,
    path: string,
  ): RoutedNeed {
    const cached = cache.get(key)
    if (cached !== undefined) return cached
    if (this.#needCount >= MAX_CACHED_NEEDS) return { kind, name, key: `${kind}:${key}`, path, index: -1 }
    const need = { kind, name, key: `${kind}:${key}`, path, index: this.#needCount++ }
    cache.set(key, need)
    return need
  }

  async #run<T>(
    need: RoutedNeed,
    data: unknown,
    validate: Validate<T>,
    options: CallOptions,
    started: number,
  ): Promise<
    { success: true; workerId: string; result: T; attempts: number; durationMs: number } | PoolFailure
  > {
    if (this.#state !== 'ready') {
      return this.#state === 'closed'
        ? this.#reject(PoolErrorCode.CLOSED, 'the pool was closed')
        : this.#reject(PoolErrorCode.NOT_INITIALIZED, 'call initialize() first')
    }
    const lb = this.#lb as LoadBalancingConfig
    const timeoutMs = options.timeoutMs ?? lb.taskTimeoutMs
    if (typeof timeoutMs !== 'number' || !(timeoutMs > 0)) {
      return this.#reject(
        PoolErrorCode.BAD_ARGUMENT,
        `timeoutMs must be a positive number, got ${String(timeoutMs)}`,
      )
    }
    let body: string | EncodedBody
    try {
      // An already framed body (binary tensors) goes as it is.
      body = data instanceof EncodedBody ? data : (JSON.stringify(data) ?? '')
    } catch (error) {
      return this.#reject(
        PoolErrorCode.BAD_ARGUMENT,
        `data cannot be sent as JSON: ${(error as Error).message}`,
      )
    }
    if (body === '')
      return this.#reject(PoolErrorCode.BAD_ARGUMENT, 'data cannot be sent as JSON (undefined or a function)')

    this.#stats.started++
    const budget = this.#budget as RetryBudget
    budget.recordRequest()
    const deadline = Date.now() + timeoutMs
    const { signal } = options
    const seq = ++this.#seq
    let attempts = 0
    let tried = NOT_TRIED
    let last: RetryableOutcome | null = null
    const fail = (code: PoolErrorCode, message: string, details?: Record<string, unknown>) =>
      this.#finishFailure(need, code, message, attempts, started, details)

    for (;;) {
      if (signal?.aborted) return fail(PoolErrorCode.ABORTED, 'aborted by the caller')
      // Synchronous when a worker has room (the common case): no promise for the slot.
      let lease: Lease | undefined = this.#leases.tryAcquire(need, tried)
      if (lease === undefined) {
        try {
          lease = await this.#leases.acquire(need, tried, deadline, signal, seq)
        } catch (error) {
          const e = error as PoolError
          if (
            last !== null &&
            e.code !== PoolErrorCode.DEADLINE_EXCEEDED &&
            e.code !== PoolErrorCode.ABORTED
          ) {
            return fail(
              PoolErrorCode.RETRIES_EXHAUSTED,
              `${e.message}; last error: ${last.message}`,
              lastDetails(last),
            )
          }
          return fail(e.code, e.message, last ? lastDetails(last) : undefined)
        }
      }
      attempts++
      const outcome = await this.#attempt(lease, need, body, deadline, signal, validate)
      switch (outcome.kind) {
        case 'success':
          this.#stats.succeeded++
          return {
            success: true,
            workerId: lease.worker.id,
            result: outcome.value,
            attempts,
            durationMs: performance.now() - started,
          }
        case 'rejected':
          return fail(
            PoolErrorCode.WORKER_REJECTED,
            `worker ${lease.worker.id} refused the request: ${outcome.message}`,
            {
              worker: lease.worker.id,
              status: outcome.status,
              workerCode: outcome.workerCode,
              ...(outcome.details ? { workerDetails: outcome.details } : {}),
            },
          )
        case 'aborted':
          return fail(PoolErrorCode.ABORTED, 'aborted by the caller')
        case 'deadline':
          return fail(
            PoolErrorCode.DEADLINE_EXCEEDED,
            `deadline of ${timeoutMs} ms passed: ${outcome.message}`,
          )
      }
      last = outcome
      this.#stats.failedAttempts++
      tried = tried === NOT_TRIED ? [lease.worker] : [...tried, lease.worker]
      const details = lastDetails(last, lease.worker.id)
      if (attempts >= lb.maxAttempts) {
        return fail(
          PoolErrorCode.RETRIES_EXHAUSTED,
          `all ${attempts} attempts failed; last: ${last.message}`,
          details,
        )
      }
      if (Date.now() >= deadline) {
        return fail(
          PoolErrorCode.DEADLINE_EXCEEDED,
          `deadline of ${timeoutMs} ms passed; last: ${last.message}`,
          details,
        )
      }
      if (!budget.tryAcquireRetry()) {
        this.#stats.retriesDenied++
        return fail(
          PoolErrorCode.RETRY_BUDGET_EXHAUSTED,
          `retry budget spent (at most ${lb.retryBudgetMinRetries} + ${lb.retryBudgetRatio} × tasks per ${lb.retryBudgetWindowMs / 1000} s); last: ${last.message}`,
          details,
        )
      }
      this.#stats.retries++
      this.#logger.info(
        {
          task: need.key,
          worker: lease.worker.id,
          attempt: attempts,
          reason: last.reason,
          status: last.status,
          workerCode: last.workerCode,
          err: last.message,
        },
        'task attempt failed; retrying on another worker',
      )
    }
  }

  async #attempt<T>(
    lease: Lease,
    need: RoutedNeed,
    body: string | EncodedBody,
    deadline: number,
    signal: AbortSignal | undefined,
    validate: Validate<T>,
  ): Promise<AttemptOutcome<T>> {
    const { worker } = lease
    const attemptTimeoutMs = (this.#lb as LoadBalancingConfig).attemptTimeoutMs
    const remaining = deadline - Date.now()
    const deadlineLimited = remaining < attemptTimeoutMs
    const timeoutMs = deadlineLimited ? Math.max(1, remaining) : attemptTimeoutMs
    worker.counters.requests++
    this.#stats.attempts++
    const t0 = performance.now()
    let outcome: AttemptOutcome<T>
    try {
      const response = await worker.transport.post(
        worker.config.basePath + need.path,
        body,
        timeoutMs,
        signal,
        worker.health.trusted,
      )
      outcome = classifyResponse(response, validate, Date.now())
    } catch (error) {
      outcome =
        error instanceof TransportError
          ? classifyTransportError(error, deadlineLimited)
          : classifyTransportError(
              new TransportError('connection', (error as Error).message, error),
              deadlineLimited,
            )
    }
    switch (outcome.kind) {
      case 'success':
        worker.counters.successes++
        worker.latency.record(performance.now() - t0)
        this.#leases.release(lease, 'success')
        break
      case 'retryable':
        if (outcome.countsAgainstWorker) {
          worker.counters.failures++
          this.#leases.release(lease, 'failure')
        } else {
          worker.counters.deferred++
          this.#leases.release(lease, 'neutral')
        }
        if (outcome.retryAfterMs !== null) this.#leases.backOff(worker, Date.now() + outcome.retryAfterMs)
        if (outcome.recheckHealth) void this.#monitor.check(worker)
        break
      case 'rejected':
        worker.counters.rejected++
        this.#leases.release(lease, 'neutral')
        break
      default:
        this.#leases.release(lease, 'neutral')
    }
    return outcome
  }

  #finishFailure(
    need: RoutedNeed,
    code: PoolErrorCode,
    message: string,
    attempts: number,
    started: number,
    details?: Record<string, unknown>,
  ): PoolFailure {
    this.#stats.failed++
    this.#stats.failuresByCode[code] = (this.#stats.failuresByCode[code] ?? 0) + 1
    const fields = {
      task: need.key,
      code,
      attempts,
      durationMs: Math.round(performance.now() - started),
      err: message,
      ...details,
    }
    // The fleet failing the caller is an ERROR; the caller's own bad input or cancel is not.
    if (code === PoolErrorCode.WORKER_REJECTED) this.#logger.warn(fields, 'task refused by the worker')
    else if (code === PoolErrorCode.ABORTED) this.#logger.debug(fields, 'task aborted by the caller')
    else this.#logger.error(fields, 'task failed; caller should fall back')
    return { success: false, error: message, code, fallback: true, attempts, ...(details ? { details } : {}) }
  }

  /** A failure before anything was started (bad argument, pool not ready): not counted as a task. */
  #reject(code: PoolErrorCode, message: string): PoolFailure {
    return { success: false, error: message, code, fallback: true, attempts: 0 }
  }

  #startWatch(path: string): void {
    const interval =
      typeof this.#options.watch === 'object'
        ? (this.#options.watch.intervalMs ?? DEFAULT_WATCH_INTERVAL_MS)
        : DEFAULT_WATCH_INTERVAL_MS
    // Our own stat poll against the file as it was when the config was loaded (taken now, synchronously).
    // fs.watchFile takes its baseline with an asynchronous first stat, so a write landing before that stat
    // became the baseline and was never reported (seen in CI with a busy thread pool).
    const initial = statSync(path, { throwIfNoEntry: false })
    let seen = initial ? `${initial.mtimeMs}:${initial.size}` : 'missing'
    let polling = false
    const poll = setInterval(() => {
      if (polling) return
      polling = true
      stat(path)
        .then(
          (now) => `${now.mtimeMs}:${now.size}`,
          () => 'missing',
        )
        .then((current) => {
          polling = false
          if (current === seen) return
          seen = current
          // Editors write in several steps: reload once the file has been quiet for a moment.
          if (this.#watchTimer) clearTimeout(this.#watchTimer)
          this.#watchTimer = setTimeout(() => {
            this.#watchTimer = null
            void this.reloadConfig()
          }, 100)
          this.#watchTimer.unref()
        })
    }, interval)
    poll.unref()
    this.#watching = poll
  }

  #stopWatch(): void {
    if (this.#watchTimer) clearTimeout(this.#watchTimer)
    if (this.#watching) clearInterval(this.#watching)
    this.#watching = null
  }
}

function lastDetails(last: RetryableOutcome, worker?: string): Record<string, unknown> {
  return {
    ...(worker ? { lastWorker: worker } : {}),
    lastReason: last.reason,
    lastStatus: last.status,
    lastWorkerCode: last.workerCode,
  }
}
