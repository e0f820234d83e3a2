import type {
  BackendName,
  ChatInferenceInput,
  EmbeddingsInput,
  EmbeddingsResponse,
  FleetHealth,
  HealthResponse,
  HealthStatus,
  InferResponse,
  KnowledgeProcessingInput,
  Load,
  SemanticSearchInput,
  SemanticSearchResult,
  TextAnalysisInput,
  TextGenerationResult,
} from '@npu-fleet/protocol'
import type { Registry } from 'prom-client'
import type { CircuitState } from './breaker/circuit-breaker.js'
import type { PoolErrorCode } from './errors.js'
import type { PoolLogger } from './logger.js'
import type { GenerationSummary } from './stats/generation-stats.js'
import type { LatencySummary } from './stats/latency-window.js'
import type { NeedCounts } from './stats/pool-counters.js'

/** Options of `new NpuWorkerPool(...)`: a config file path, or a config object (either YAML form as an object). */
export interface NpuWorkerPoolOptions {
  /** YAML file (either form). Default `config/npu_workers.yaml`; missing → one worker from `NPU_WORKER_URL`. */
  configPath?: string
  /** A config document (the YAML's shape as an object), used instead of a file. */
  config?: unknown
  /** Where the pool logs (pino-shaped; Fastify's `app.log` fits). Default: pino on stdout. */
  logger?: PoolLogger
  /** Reload when the config file changes (polled; default interval 2000 ms). */
  watch?: boolean | { intervalMs?: number }
  /** Environment for `NPU_WORKER_URL` / `NPU_WORKER_TOKEN`. Default: `process.env`. */
  env?: NodeJS.ProcessEnv
  /** Random source in [0, 1) for jitter (tests pass a fixed one). */
  random?: () => number
  /** A prom-client registry to put the pool's metrics in (the backend's own); default: a registry of the pool's. */
  registry?: Registry
}

/** Per-call options of `executeTask` and `infer`. */
export interface CallOptions {
  /** Cancels the task (waiting or in flight): it fails with `POOL_ERR_ABORTED`. */
  signal?: AbortSignal
  /** Deadline of the whole task (waiting + every attempt). Default: `load_balancing.task_timeout_seconds`. */
  timeoutMs?: number
}

/** Options of the pool's `infer` (named apart from the worker's own inference options). */
export interface PoolInferOptions extends CallOptions {
  /** Model version (`/v2/models/{name}/versions/{version}/infer`); default: the worker's newest ready one. */
  version?: string
  /**
   * Use the KServe binary tensor extension: inputs whose `data` is a typed array (Float32Array, ...) travel as
   * raw bytes, and outputs come back as typed arrays in `result.outputs[i].data`. Far cheaper than JSON for
   * large tensors (an image is 5–6× faster end to end). Default false (plain JSON).
   */
  binary?: boolean
}

/** A task that succeeded. */
export interface PoolSuccess<T> {
  success: true
  /** The worker that answered. */
  workerId: string
  result: T
  /** Attempts it took (1 = no retry). */
  attempts: number
  durationMs: number
}

/** A task route success: the worker's result plus where it ran. */
export interface TaskSuccess<R = unknown> extends PoolSuccess<R> {
  model: string
  backend: BackendName
  device: string
}

/** A task that failed; `fallback: true` tells the caller to use its own fallback path. */
export interface PoolFailure {
  success: false
  error: string
  code: PoolErrorCode
  fallback: true
  /** Attempts sent to workers (0 when none was). */
  attempts: number
  /** Structured detail: the worker's status and `NPU_ERR_*` code for rejections, the last error for retries. */
  details?: Record<string, unknown>
}

/** A generation (`chat`, `complete`) that succeeded: the OpenAI answer plus where it ran. */
export interface GenerationSuccess<T> extends PoolSuccess<T> {
  /** The worker's backend and device that generated it (its `x-npu-backend`/`x-npu-device` headers), or null. */
  backend: string | null
  device: string | null
}

/** Result of `chat` and `complete`. */
export type GenerationResult<T> = GenerationSuccess<T> | PoolFailure

/** The seeds' task calls, typed: what `executeTask(type, input)` sends and the `result` it answers with. */
export interface SeedTasks {
  text_analysis: { input: TextAnalysisInput; result: TextGenerationResult }
  knowledge_processing: { input: KnowledgeProcessingInput; result: TextGenerationResult }
  chat_inference: { input: ChatInferenceInput; result: TextGenerationResult }
  embedding_generation: { input: EmbeddingsInput; result: EmbeddingsResponse }
  semantic_search: { input: SemanticSearchInput; result: SemanticSearchResult }
}

/** Result of `executeTask`. */
export type TaskResult<R = unknown> = TaskSuccess<R> | PoolFailure
/** Result of `infer`. */
export type InferResult = PoolSuccess<InferResponse> | PoolFailure

/** Pool-wide counters (`getStats()`). Tasks are logical calls; attempts are requests sent to workers. */
export interface PoolStats {
  totalWorkers: number
  /** Enabled workers whose health is up. */
  healthyWorkers: number
  /** Healthy workers whose circuit admits traffic now. */
  availableWorkers: number
  /** Removed by a reload, still finishing requests. */
  drainingWorkers: number
  /** Attempts in flight on workers. */
  activeTasks: number
  /** Tasks waiting for a free worker. */
  queuedTasks: number
  /** Finished tasks (succeeded + failed). */
  totalTasksProcessed: number
  /** succeeded / finished; 1 while nothing has finished. */
  successRate: number
  tasks: { started: number; succeeded: number; failed: number; inProgress: number }
  attempts: { total: number; failed: number; retries: number; retriesDeniedByBudget: number }
  /** The ejection cap: tiers in panic now, how often a tier entered panic, attempts routed to ejected workers. */
  ejectionCap: { panickingTiers: number[]; panics: number; routedWhileEjected: number }
  /** Failed tasks by `POOL_ERR_*` code. */
  failuresByCode: Partial<Record<PoolErrorCode, number>>
  /**
   * Per task type, model and generation route (`task:text_analysis`, `model:mlp`, `chat:tiny-llama-chat`,
   * `completion:...`): tasks started, succeeded, failed, and the retries they took.
   */
  byTask: Record<string, NeedCounts>
}

/** One worker's state (`getWorkers()`); never includes its token. */
export interface WorkerSnapshot {
  id: string
  /** Base URL (credentials are refused at load, so none can show here). */
  url: string
  priority: number
  enabled: boolean
  maxConcurrentTasks: number
  /** Health up (last checks passed per the thresholds). */
  healthy: boolean
  /** The worker's own last reported status, or null before any valid health body. */
  healthStatus: HealthStatus | null
  /** Health in one word: `healthy`/`degraded` (up, its own status), `down`, `refused`, `unchecked`. */
  healthState: FleetHealth
  circuitState: CircuitState
  /** When the circuit is OPEN: the cooldown in ms. */
  circuitCooldownMs: number | null
  activeTasks: number
  totalRequests: number
  successes: number
  /** Task failures held against the worker (what opens its circuit). */
  failures: number
  /** 4xx refusals (bad input). */
  rejected: number
  /** 429/503 back-pressure or not-serving answers. */
  deferred: number
  /** Attempts routed to it while its circuit or health had ejected it (the ejection cap). */
  routedWhileEjected: number
  /** Health-check failures, counted apart from task failures. */
  healthFailures: number
  consecutiveHealthFailures: number
  /** ISO time of the last finished health check, or null before the first. */
  lastHealthCheck: string | null
  /** The same as `Date.now()` milliseconds (the admin routes answer it in Unix seconds). */
  lastHealthCheckAt: number | null
  lastHealthError: string | null
  /** The worker's `protocol_version` from its last valid `/health`, or null. */
  protocolVersion: number | null
  /** Why the pool refuses the worker (its `/health` was not a compatible npu-worker), or null. */
  refused: string | null
  /** Round-trip of the last health check (ms). */
  lastHealthLatencyMs: number | null
  /** Latency of successful attempts (ms) over the last 1024. */
  latency: LatencySummary
  /** The peak-EWMA latency estimate balancing uses (ms), or null before the first sample. */
  latencyEstimateMs: number | null
  /** Its slow-start share in (0, 1) while it ramps, or null. */
  slowStart: number | null
  tasks: string[]
  models: string[]
  device: string | null
  version: string | null
  /** The worker's own load at the last health check. */
  workerLoad: Load | null
  /** Generation sequences this pool holds on it now (streams and text tasks). */
  activeSequences: number
  /** Its generations as the pool saw them: time to first token and tokens/s of its streams. */
  generation: GenerationSummary
}

/** The last `/health` body a worker answered (`workerHealthReport(id)`), for operators reading its reasons. */
export interface WorkerHealthReport {
  id: string
  /** The body as the worker sent it, or null when no compatible npu-worker answered yet. */
  body: HealthResponse | null
  /** `Date.now()` when it was received, or null. */
  receivedAt: number | null
}

/** Result of `reloadConfig()`. */
export interface ReloadResult {
  success: boolean
  /** Workers configured after the call (unchanged when it failed). */
  workersLoaded: number
  message: string
  /** Set when `success` is false. */
  code?: PoolErrorCode
}
