import { z } from 'zod'

// The statistics extension (Triton's docs/protocol/extension_statistics.md): per model version, what ran since
// the worker started. Counts and nanoseconds are JSON numbers here (exact up to 2^53 ns, 104 days of compute);
// the gRPC twin (ModelStatistics) carries them as uint64.

/** A count of events and their cumulative duration in nanoseconds (Triton's `StatisticDuration`). */
export const StatisticDurationSchema = z.object({
  count: z.number().int().nonnegative(),
  ns: z.number().int().nonnegative(),
})
/** A count and cumulative duration. */
export type StatisticDuration = z.infer<typeof StatisticDurationSchema>

/**
 * Per-request statistics (Triton's `InferStatistics`): `success` and `fail` time each request from entering
 * its model's queue to its answer; `queue`, `compute_input`, `compute_infer` and `compute_output` are counted
 * once per successful request, each request of a merged batch charged the whole batch's compute durations.
 */
export const InferStatisticsSchema = z.object({
  success: StatisticDurationSchema,
  fail: StatisticDurationSchema,
  queue: StatisticDurationSchema,
  compute_input: StatisticDurationSchema,
  compute_infer: StatisticDurationSchema,
  compute_output: StatisticDurationSchema,
})
/** Per-request statistics. */
export type InferStatistics = z.infer<typeof InferStatisticsSchema>

/** Executions of one batch size (Triton's `InferBatchStatistics`): each compute duration counted per execution. */
export const InferBatchStatisticsSchema = z.object({
  batch_size: z.number().int().positive(),
  compute_input: StatisticDurationSchema,
  compute_infer: StatisticDurationSchema,
  compute_output: StatisticDurationSchema,
})
/** Executions of one batch size. */
export type InferBatchStatistics = z.infer<typeof InferBatchStatisticsSchema>

/** Statistics of one model version (Triton's `ModelStatistics`). */
export const ModelStatisticsSchema = z.object({
  name: z.string(),
  version: z.string(),
  /** When its last inference finished, in milliseconds since the epoch; 0 before the first. */
  last_inference: z.number().int().nonnegative(),
  /** Inferences served: a request of `n` rows under dynamic batching counts `n`, any other request 1. */
  inference_count: z.number().int().nonnegative(),
  /** Model executions that succeeded: requests the batcher merged count once. */
  execution_count: z.number().int().nonnegative(),
  inference_stats: InferStatisticsSchema,
  /** One entry per batch size executed, ascending. */
  batch_stats: z.array(InferBatchStatisticsSchema),
})
/** Statistics of one model version. */
export type ModelStatistics = z.infer<typeof ModelStatisticsSchema>

/** `GET /v2/models[/{name}[/versions/{v}]]/stats` body. */
export const ModelStatisticsResponseSchema = z.object({ model_stats: z.array(ModelStatisticsSchema) })
/** Statistics response. */
export type ModelStatisticsResponse = z.infer<typeof ModelStatisticsResponseSchema>
