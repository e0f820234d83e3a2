import { z } from 'zod'

/** `GET /api/npu/pool/stats` (the seeds' snake_case shape). */
export const PoolStatsResponseSchema = z.object({
  total_workers: z.number().int(),
  healthy_workers: z.number().int(),
  total_tasks_processed: z.number().int(),
  active_tasks: z.number().int(),
  success_rate: z.number(),
})
/** Pool stats admin body. */
export type PoolStatsResponse = z.infer<typeof PoolStatsResponseSchema>

/** A worker's circuit as the seeds' admin routes name it (the values of their `CircuitState` enum). */
export const CircuitStateSchema = z.enum(['closed', 'open', 'half_open'])
/** `closed`, `open` or `half_open`. */
export type CircuitStateName = z.infer<typeof CircuitStateSchema>

/**
 * One worker in `GET /api/npu/pool/workers`: the seeds' keys with the seeds' value types (`circuit_state` lower
 * case, `last_health_check` in Unix seconds), then richer fields under names of their own.
 */
export const PoolWorkerEntrySchema = z.object({
  id: z.string(),
  url: z.string(),
  priority: z.number().int(),
  enabled: z.boolean(),
  healthy: z.boolean(),
  circuit_state: CircuitStateSchema,
  active_tasks: z.number().int(),
  total_requests: z.number().int(),
  failures: z.number().int(),
  /** Unix time in seconds (e.g. `1738713245.32`) of the last finished health check; null before the first. */
  last_health_check: z.number().nullable(),
  // Not in the seeds' contract: added under new names, so an old admin UI reads what it always did.
  /** The worker's own status from its last valid `/health` (`healthy`, `degraded`, `starting`, ...), or null. */
  health_status: z.string().nullable(),
  /** Why the last health check failed (also why the pool refuses a worker it cannot speak to), or null. */
  last_health_error: z.string().nullable(),
  /** The worker's `protocol_version` from its last valid `/health`, or null. */
  protocol_version: z.number().int().nullable(),
  /** The pool's cap on requests in flight to this worker (`max_concurrent_tasks`). */
  max_concurrent_tasks: z.number().int(),
})
/** One worker entry. */
export type PoolWorkerEntry = z.infer<typeof PoolWorkerEntrySchema>

/** `GET /api/npu/pool/workers`. */
export const PoolWorkersResponseSchema = z.object({ workers: z.array(PoolWorkerEntrySchema) })
/** Pool workers admin body. */
export type PoolWorkersResponse = z.infer<typeof PoolWorkersResponseSchema>

/** `POST /api/npu/pool/reload`. */
export const PoolReloadResponseSchema = z.object({
  success: z.boolean(),
  workers_loaded: z.number().int(),
  message: z.string(),
})
/** Pool reload admin body. */
export type PoolReloadResponse = z.infer<typeof PoolReloadResponseSchema>
