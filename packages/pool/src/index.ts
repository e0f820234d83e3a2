// The public surface of @npu-fleet/pool: explicit named re-exports, nothing else.

export { ADMIN_ROUTES, type AdminPool, type NpuPoolAdminOptions, npuPoolAdmin } from './admin/admin-plugin.js'
export { toReloadResponse, toStatsResponse, toWorkersResponse } from './admin/admin-views.js'
export type { FleetPageSettings } from './admin/fleet-page/fleet-page-routes.js'
export {
  type BreakerPermit,
  type BreakerState,
  CircuitBreaker,
  type CircuitBreakerOptions,
  CircuitState,
} from './breaker/circuit-breaker.js'
export {
  DEFAULT_CONFIG_PATH,
  DEFAULT_WORKER_URL,
  ENV_WORKER_ID,
  envFallbackConfig,
  type LoadPoolConfigOptions,
  loadPoolConfig,
} from './config/load-pool-config.js'
export {
  type ConfigSource,
  defaultLoadBalancing,
  type LoadBalancingConfig,
  type ParsePoolConfigOptions,
  type PoolConfig,
  PoolConfigError,
  parsePoolConfig,
  type WorkerEntry,
} from './config/pool-config.js'
export {
  type InferOptions,
  type LoadWorkerConfigOptions,
  loadWorkerConfig,
  type ParseWorkerConfigOptions,
  parseWorkerConfig,
  type WorkerConfig,
} from './deprecated.js'
export { isPoolError, PoolError, PoolErrorCode, StreamInterruptedError } from './errors.js'
export type { GenerationOptions, GenerationParameters } from './generation/generation-request.js'
export type { GenerationChunk } from './generation/stream-chunks.js'
export type { PoolLogger } from './logger.js'
export { NpuWorkerPool } from './pool.js'
export type {
  CallOptions,
  GenerationResult,
  GenerationSuccess,
  InferResult,
  NpuWorkerPoolOptions,
  PoolFailure,
  PoolInferOptions,
  PoolStats,
  PoolSuccess,
  ReloadResult,
  SeedTasks,
  TaskResult,
  TaskSuccess,
  WorkerHealthReport,
  WorkerSnapshot,
} from './pool-types.js'
export type { GenerationSummary } from './stats/generation-stats.js'
export type { NeedCounts } from './stats/pool-counters.js'
export { NpuTaskQueue, type NpuTaskQueueOptions, type TaskQueueAddOptions } from './task-queue.js'
export type { TypedTensorData } from './transport/binary-tensors.js'
