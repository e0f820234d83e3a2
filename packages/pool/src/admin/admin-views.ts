import {
  type PoolReloadResponse,
  PoolReloadResponseSchema,
  type PoolStatsResponse,
  PoolStatsResponseSchema,
  type PoolWorkersResponse,
  PoolWorkersResponseSchema,
} from '@npu-fleet/protocol'
import type { PoolStats, ReloadResult, WorkerSnapshot } from '../pool-types.js'

// The seeds' snake_case admin shapes, built from the pool's snapshots. Parsing with the protocol schemas
// drops anything extra, so the routes return exactly the contract (and nothing secret can ride along): the
// seeds' keys with their value types, plus the richer fields the protocol names.

/** `GET /api/npu/pool/stats` body. */
export function toStatsResponse(stats: PoolStats): PoolStatsResponse {
  return PoolStatsResponseSchema.parse({
    total_workers: stats.totalWorkers,
    healthy_workers: stats.healthyWorkers,
    total_tasks_processed: stats.totalTasksProcessed,
    active_tasks: stats.activeTasks,
    success_rate: stats.successRate,
  })
}

/** `GET /api/npu/pool/workers` body. */
export function toWorkersResponse(workers: readonly WorkerSnapshot[]): PoolWorkersResponse {
  return PoolWorkersResponseSchema.parse({
    workers: workers.map((w) => ({
      id: w.id,
      url: w.url,
      priority: w.priority,
      enabled: w.enabled,
      healthy: w.healthy,
      circuit_state: w.circuitState,
      active_tasks: w.activeTasks,
      total_requests: w.totalRequests,
      failures: w.failures,
      last_health_check: w.lastHealthCheckAt === null ? null : w.lastHealthCheckAt / 1000,
      health_status: w.healthStatus,
      last_health_error: w.lastHealthError,
      protocol_version: w.protocolVersion,
      max_concurrent_tasks: w.maxConcurrentTasks,
    })),
  })
}

/** `POST /api/npu/pool/reload` body. */
export function toReloadResponse(result: ReloadResult): PoolReloadResponse {
  return PoolReloadResponseSchema.parse({
    success: result.success,
    workers_loaded: result.workersLoaded,
    message: result.message,
  })
}
