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

/** One worker in `GET /api/npu/pool/workers`. */
export const PoolWorkerEntrySchema = z.object({
  id: z.string(),
  url: z.string(),
  priority: z.number().int(),
  enabled: z.boolean(),
  healthy: z.boolean(),
  circuit_state: z.enum(['CLOSED', 'OPEN', 'HALF_OPEN']),
  active_tasks: z.number().int(),
  total_requests: z.number().int(),
  failures: z.number().int(),
  last_health_check: z.string().nullable(),
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
