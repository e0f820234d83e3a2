import { z } from 'zod'

// The YAML shapes of config/npu_workers.yaml (snake_case, as the seeds wrote them). Both forms share one
// worker schema, so a file can never be half-understood: unknown keys inside a worker or load_balancing are
// errors, not silently ignored typos.

const between = (min: number, max: number) => `must be between ${min} and ${max}`

/** Worker ids appear in logs, metrics and CLI tables: plain identifiers only. */
const WorkerIdSchema = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/,
    'must be 1-128 characters of A-Z a-z 0-9 . _ : - (not starting with a symbol)',
  )

/** One worker entry, in either form (`url`, or `host` + `port`). */
export const WorkerEntrySchema = z.strictObject({
  id: WorkerIdSchema,
  url: z.string().optional(),
  host: z.string().min(1, 'must not be empty').optional(),
  port: z
    .number()
    .int('must be an integer')
    .min(1, between(1, 65535))
    .max(65535, between(1, 65535))
    .optional(),
  priority: z.number().int('must be an integer').min(1, between(1, 10)).max(10, between(1, 10)).default(5),
  enabled: z.boolean(),
  max_concurrent_tasks: z
    .number()
    .int('must be an integer')
    .min(1, between(1, 10000))
    .max(10000, between(1, 10000))
    .default(4),
  /** Bearer token the worker requires (its `auth_token`); never shown by admin routes or the CLI. */
  auth_token: z.string().min(1, 'must not be empty').optional(),
  // Descriptive keys the seeds' files carry; accepted and ignored.
  name: z.string().optional(),
  description: z.string().optional(),
  tags: z.array(z.string()).optional(),
})
/** One worker entry as written in YAML. */
export type WorkerEntryInput = z.input<typeof WorkerEntrySchema>

const seconds = (fallback: number, min = 0) =>
  z
    .number()
    .min(min, min === 0 ? 'must be 0 or more' : `must be at least ${min}`)
    .default(fallback)
const positiveSeconds = (fallback: number) =>
  z
    .number()
    .refine((v) => v > 0, 'must be greater than 0')
    .default(fallback)
const count = (fallback: number, min: number, max: number) =>
  z
    .number()
    .int('must be an integer')
    .min(min, between(min, max))
    .max(max, between(min, max))
    .default(fallback)

/** `load_balancing:` keys; every one has a default. */
export const LoadBalancingSchema = z.strictObject({
  /** Seconds between background health rounds (jittered ±10%); 0 turns the background monitor off. */
  health_check_interval: seconds(30),
  health_check_timeout_seconds: positiveSeconds(5),
  /** A worker whose last check is older than this is checked on demand before it gets traffic. */
  health_stale_seconds: z
    .number()
    .refine((v) => v > 0, 'must be greater than 0')
    .optional(),
  /** Consecutive failed health checks that mark an up worker down. */
  unhealthy_threshold: count(2, 1, 100),
  /** Consecutive passed health checks that mark a down worker up. */
  healthy_threshold: count(1, 1, 100),
  /** Consecutive task failures that open a worker's circuit. */
  failure_threshold: count(5, 1, 1000),
  /** First OPEN period; doubles on each consecutive re-open up to max_cooldown_seconds. */
  retry_cooldown_seconds: positiveSeconds(60),
  /** Cap of the doubling; default 300, or retry_cooldown_seconds when that is longer. */
  max_cooldown_seconds: z
    .number()
    .refine((v) => v > 0, 'must be greater than 0')
    .optional(),
  /** Timeout of one attempt on one worker. */
  timeout_seconds: positiveSeconds(10),
  /** Default deadline of a whole task (waiting + every attempt) when the caller gives none. */
  task_timeout_seconds: positiveSeconds(30),
  /** A stream whose worker sends nothing for this long (before or after its first chunk) counts as failed. */
  stream_idle_timeout_seconds: positiveSeconds(30),
  max_attempts: count(3, 1, 10),
  /** Retries allowed over the window: retry_budget_min_retries + ratio × tasks started in the window. */
  retry_budget_ratio: z.number().min(0, between(0, 10)).max(10, between(0, 10)).default(0.2),
  retry_budget_min_retries: count(10, 0, 1_000_000),
  retry_budget_window_seconds: positiveSeconds(10),
  /** Tasks allowed to wait when every eligible worker is full; more fail with POOL_ERR_QUEUE_FULL. */
  max_queued_tasks: count(1000, 0, 10_000_000),
  /** A worker that joins (or whose circuit closes) ramps from 10% to its full share over this many seconds; 0 = off. */
  slow_start_seconds: seconds(0),
  /** Most of a priority tier that open circuits and silent health checks may take out; more and the tier panics. */
  max_ejection_percent: z.number().min(0, between(0, 100)).max(100, between(0, 100)).default(50),
  /** Decay time of the peak-EWMA latency estimate (how fast a worker's slow spell is forgotten). */
  latency_decay_seconds: positiveSeconds(10),
})
/** `load_balancing:` as written in YAML. */
export type LoadBalancingInput = z.input<typeof LoadBalancingSchema>

/** The pool section: `workers`, optional `load_balancing`, optional default `auth_token`. */
export const PoolSectionSchema = z.strictObject({
  workers: z.array(WorkerEntrySchema).min(1, 'must list at least one worker'),
  load_balancing: LoadBalancingSchema.optional(),
  /** Token sent to every worker without its own `auth_token`. */
  auth_token: z.string().min(1, 'must not be empty').optional(),
})
/** Form 1 (top level) or the `npu:` section of form 2. */
export type PoolSectionInput = z.input<typeof PoolSectionSchema>
