import { z } from 'zod'

/** Overall worker state: healthy = every model on its preferred device; degraded = serving on a fallback. */
export const HealthStatusSchema = z.enum(['starting', 'healthy', 'degraded', 'unhealthy', 'draining'])
/** Overall worker state. */
export type HealthStatus = z.infer<typeof HealthStatusSchema>

/** Inference backends the worker can run a model on. */
export const BackendNameSchema = z.enum(['openvino', 'onnxruntime'])
/** Inference backend name. */
export type BackendName = z.infer<typeof BackendNameSchema>

/** Why a model did not run on its first choice of backend and device. */
export const FallbackStepSchema = z.object({
  backend: BackendNameSchema,
  device: z.string(),
  reason: z.string(),
})
/** One failed step of a model's fallback chain. */
export type FallbackStep = z.infer<typeof FallbackStepSchema>

/** Lifecycle of one model on the worker. */
export const ModelStateSchema = z.enum(['loading', 'ready', 'failed', 'unloading'])
/** Lifecycle of one model. */
export type ModelState = z.infer<typeof ModelStateSchema>

/** Dynamic batching of one model as configured and as it runs. */
export const BatchingHealthSchema = z.object({
  enabled: z.boolean(),
  /** `dynamic`: any batch size; `padded`: filled up to the one compiled size (static shapes, NPU). */
  mode: z.enum(['dynamic', 'padded']).nullable(),
  max_batch_size: z.number().int().positive(),
  max_queue_delay_us: z.number().int().nonnegative(),
  padded_to: z.number().int().positive().nullable(),
  /** Why batching is off although configured, or null. */
  reason: z.string().nullable(),
})
/** Batching state in `/health`. */
export type BatchingHealth = z.infer<typeof BatchingHealthSchema>

/** One model's state in `/health`. */
export const ModelHealthSchema = z.object({
  name: z.string(),
  version: z.string(),
  state: ModelStateSchema,
  ready: z.boolean(),
  backend: BackendNameSchema.nullable(),
  device: z.string().nullable(),
  preferred_device: z.string(),
  /** True when the model runs on something other than its first preferred device. */
  fallback: z.boolean(),
  fallback_chain: z.array(FallbackStepSchema),
  /** Batch sizes compiled for static-shape devices (NPU), or null when shapes are dynamic. */
  compiled_batch_sizes: z.array(z.number().int().positive()).nullable().optional(),
  /** Present when `model.yaml` configures batching. */
  batching: BatchingHealthSchema.nullable().optional(),
  error: z.string().nullable(),
})
/** One model's state in `/health`. */
export type ModelHealth = z.infer<typeof ModelHealthSchema>

/** Current load: requests running, waiting, and how many can run/wait at once. */
export const LoadSchema = z.object({
  active: z.number().int().nonnegative(),
  queued: z.number().int().nonnegative(),
  capacity: z.number().int().nonnegative(),
  queue_capacity: z.number().int().nonnegative(),
})
/** Worker load. */
export type Load = z.infer<typeof LoadSchema>

/** What the worker can do: the seeds' `{device, available}` kept, extended. */
export const CapabilitiesSchema = z
  .object({
    /** The best device any ready model runs on (`NPU`, `GPU`, `CPU`), or `none`. */
    device: z.string(),
    /** True when an NPU is present and usable by the runtime. */
    available: z.boolean(),
    /** Backend of the device above. */
    backend: BackendNameSchema.nullable(),
    /** Devices the runtimes report (OpenVINO `getAvailableDevices()`, plus ONNX Runtime's CPU). */
    devices: z.array(z.string()),
    /** Why the worker is not on the NPU, or null. */
    fallback_reason: z.string().nullable(),
    openvino: z.object({ loaded: z.boolean(), version: z.string().nullable(), error: z.string().nullable() }),
    /** Task types served under `/v1/tasks/{type}`. */
    tasks: z.array(z.string()),
    /** Names of ready models. */
    models: z.array(z.string()),
  })
  .passthrough()
/** Worker capabilities. */
export type Capabilities = z.infer<typeof CapabilitiesSchema>

/**
 * Version of the worker <-> pool wire contract this package describes. A worker states it in `/health`; a pool
 * routes only to workers whose version it lists in {@link SUPPORTED_PROTOCOL_VERSIONS}. Raise it when a change
 * would make an older peer misread a body (a field's meaning changes); additive fields keep it.
 */
export const PROTOCOL_VERSION = 1
/** Protocol versions this build of the pool can speak to. */
export const SUPPORTED_PROTOCOL_VERSIONS: readonly number[] = [1]

/** `GET /health` body: what operators curl and what the pool probes. */
export const HealthResponseSchema = z
  .object({
    status: HealthStatusSchema,
    service: z.literal('npu-worker'),
    version: z.string(),
    /** {@link PROTOCOL_VERSION} of the worker; absent on workers older than the field. */
    protocol_version: z.number().int().positive().optional(),
    capabilities: CapabilitiesSchema,
    models: z.array(ModelHealthSchema),
    load: LoadSchema,
    uptime_seconds: z.number().nonnegative(),
    /** Short human summary of why the status is what it is. */
    message: z.string().optional(),
  })
  .passthrough()
/** `GET /health` body. */
export type HealthResponse = z.infer<typeof HealthResponseSchema>
