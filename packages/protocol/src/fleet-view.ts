import { z } from 'zod'
import { CircuitStateSchema } from './admin.js'
import { HealthResponseSchema, LoadSchema } from './health.js'

/**
 * A worker's health as the pool routes by it, in one word: `healthy` and `degraded` are up (its own status);
 * `down` failed its checks; `refused` answered, but not as a compatible npu-worker; `unchecked` has not been
 * checked yet. The same values as the `state` label of `npu_pool_worker_health_state`.
 */
export const FleetHealthSchema = z.enum(['healthy', 'degraded', 'down', 'refused', 'unchecked'])
/** A worker's health in one word. */
export type FleetHealth = z.infer<typeof FleetHealthSchema>

/** One row of the fleet page: a worker as the pool sees it, with why it needs attention. */
export const FleetRowSchema = z.object({
  id: z.string(),
  url: z.string(),
  priority: z.number().int(),
  enabled: z.boolean(),
  health: FleetHealthSchema,
  /** Why the row stands out (down, refused, degraded, circuit open, output drift), one line each; empty: fine. */
  attention: z.array(z.string()),
  /** The worker's own summary from its last `/health` (`message`), or null. */
  status_message: z.string().nullable(),
  device: z.string().nullable(),
  version: z.string().nullable(),
  circuit_state: CircuitStateSchema,
  /** Requests in flight from this pool, and the pool's cap on them. */
  active_tasks: z.number().int(),
  max_concurrent_tasks: z.number().int(),
  /** The worker's own load at its last health check. */
  worker_load: LoadSchema.nullable(),
  /** Latency of its successful attempts, as the pool measured them (last 1024). */
  latency_ms: z.object({
    samples: z.number().int(),
    p50: z.number().nullable(),
    p99: z.number().nullable(),
  }),
  /** Models it serves (ready), from its last `/health`. */
  models: z.array(z.string()),
  /** Models whose last self-test drifted out of tolerance, from its last `/health`. */
  drifting_models: z.array(z.string()),
  /** ISO time of the last finished health check, or null. */
  last_health_check: z.string().nullable(),
  last_health_error: z.string().nullable(),
})
/** One fleet page row. */
export type FleetRow = z.infer<typeof FleetRowSchema>

/** `GET /api/npu/pool/fleet/data`, and each `fleet` event of `GET /api/npu/pool/fleet/events`. */
export const FleetViewSchema = z.object({
  /** ISO time the view was taken. */
  generated_at: z.string(),
  /** How often the events stream sends a new view (ms). */
  refresh_ms: z.number().int().positive(),
  stats: z.object({
    total_workers: z.number().int(),
    healthy_workers: z.number().int(),
    available_workers: z.number().int(),
    active_tasks: z.number().int(),
    queued_tasks: z.number().int(),
    success_rate: z.number(),
  }),
  workers: z.array(FleetRowSchema),
})
/** The fleet page's data. */
export type FleetView = z.infer<typeof FleetViewSchema>

/** `GET /api/npu/pool/fleet/workers/{id}`: the last `/health` body the pool received from the worker. */
export const FleetWorkerReportSchema = z.object({
  id: z.string(),
  /** ISO time the body was received, or null when the worker never answered with one. */
  received_at: z.string().nullable(),
  /** The body as the worker sent it (status, message, models with their reasons...), or null. */
  health: HealthResponseSchema.nullable(),
})
/** The last health body of one worker. */
export type FleetWorkerReport = z.infer<typeof FleetWorkerReportSchema>
