import { z } from 'zod'

/**
 * Overall worker state: healthy = every model serves fully on its preferred device; degraded = serving, but
 * on a fallback, with a model impaired, recovering, drifting or failed, or with a task that cannot serve.
 */
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

/**
 * Lifecycle of one model on the worker: `ready` serves fully; `degraded` serves, but with fewer slots than it
 * loaded with or with outputs outside the device tolerance (`reason` says which); `recovering` cannot serve now
 * and recovers by itself (`recovery` says when it tries next); `failed` never loaded.
 */
export const ModelStateSchema = z.enum([
  'loading',
  'warming',
  'ready',
  'degraded',
  'recovering',
  'failed',
  'unloading',
])
/** Lifecycle of one model. */
export type ModelState = z.infer<typeof ModelStateSchema>

/** The `warmup:` of model.yaml as it ran on the loaded model (Triton's model_warmup). */
export const WarmupHealthSchema = z.object({
  /** `zeros`, `random` or `sample`. */
  data: z.enum(['zeros', 'random', 'sample']),
  /** Inferences per batch size. */
  runs: z.number().int().positive(),
  /** Batch sizes it ran at: the compiled ones, else the model's own shape's. */
  batch_sizes: z.array(z.number().int().nonnegative()),
  /** When it started (ISO 8601). */
  started_at: z.string(),
  /** How long it took; null while it runs (the model is then `warming`). */
  duration_ms: z.number().nonnegative().nullable(),
})
/** Warmup in `/health`. */
export type WarmupHealth = z.infer<typeof WarmupHealthSchema>

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

/** Arithmetic precision a device computes a model in (see tolerance.ts). */
export const PrecisionSchema = z.enum(['FP32', 'FP16', 'BF16'])

/**
 * The last output-correctness self-test of one model: its golden input run on the device and compared with the
 * reference output within the device's tolerance (tolerance.ts).
 */
export const SelfTestHealthSchema = z.object({
  /**
   * `pass`: every output within tolerance; `drift`: some outside it (the model is `degraded`, reason
   * `output drift`); `error`: the golden input failed to run on the device; `no_reference`: nothing to compare
   * with (an IR model with neither a sibling `.onnx` nor a shipped sample).
   */
  result: z.enum(['pass', 'drift', 'error', 'no_reference']),
  /** When it ran (ISO 8601). */
  at: z.string(),
  /** `onnxruntime_cpu`: computed with ONNX Runtime on the CPU at load; `shipped`: model.yaml `self_test.sample`. */
  reference: z.enum(['onnxruntime_cpu', 'shipped']).nullable(),
  precision: PrecisionSchema,
  tolerance: z.object({ atol: z.number(), rtol: z.number() }).nullable(),
  /** Largest |device - reference| (null when not compared, or infinite: NaN or a missing element). */
  max_abs_error: z.number().nullable(),
  /** Elements outside the tolerance, of `elements` compared. */
  mismatches: z.number().int().nonnegative().nullable(),
  elements: z.number().int().nonnegative().nullable(),
  duration_ms: z.number().nonnegative().nullable(),
  /** What happened, in words (the error, or where the reference came from). */
  message: z.string().nullable(),
})
/** A model's last self-test in `/health`. */
export type SelfTestHealth = z.infer<typeof SelfTestHealthSchema>

/** Parallel inferences of one model: as configured, as the backend loaded it, and serving now. */
export const ParallelismHealthSchema = z.object({
  /** `instances` from model.yaml, else the worker's `default_instances`. */
  configured: z.number().int().nonnegative(),
  /** What the backend runs (ONNX Runtime threads; OpenVINO infer requests). */
  loaded: z.number().int().nonnegative(),
  /**
   * Slots that take requests now: this model's share of `load.capacity`. Threads being replaced and requests
   * being recycled are not; a dormant ONNX Runtime instance is (a request that would wait starts it).
   */
  live: z.number().int().nonnegative(),
  /** Why `loaded` or `live` is below `configured`, or null. */
  reason: z.string().nullable(),
  /**
   * ONNX Runtime's instances by state (each configured instance in one): `running` have a session; `starting`
   * load one (on demand, or replacing one lost); `dormant` have none by design (not needed yet, or retired after
   * `idle_timeout_ms` idle); `down` wait out a backoff. Absent for OpenVINO, whose infer requests are always there.
   */
  instances: z
    .object({
      running: z.number().int().nonnegative(),
      starting: z.number().int().nonnegative(),
      dormant: z.number().int().nonnegative(),
      down: z.number().int().nonnegative(),
      /** Idle time after which an instance beyond the first is retired; null: every instance always on. */
      idle_timeout_ms: z.number().int().positive().nullable(),
    })
    .optional(),
})
/** A model's parallelism in `/health`. */
export type ParallelismHealth = z.infer<typeof ParallelismHealthSchema>

/**
 * A language model's generation limits and load, for admission control and the pool's routing: a generation
 * holds one sequence slot for seconds, so capacity counts sequences, not connections.
 */
export const GenerationHealthSchema = z.object({
  /** What generates: OpenVINO GenAI's `LLMPipeline` or the worker's ONNX Runtime engine. */
  runtime: z.enum(['openvino_genai', 'onnxruntime']),
  /** Sequences being generated now. */
  active: z.number().int().nonnegative(),
  /** Requests waiting for a sequence slot. */
  queued: z.number().int().nonnegative(),
  /** Sequences generated at once; more wait. */
  max_sequences: z.number().int().nonnegative(),
  /** Requests allowed to wait beyond those generating; more get 503 + Retry-After. */
  max_queued: z.number().int().nonnegative(),
  /** Tokens of one sequence, prompt and answer together. */
  context_length: z.number().int().positive(),
  /** Longest prompt in tokens (the NPU's `MAX_PROMPT_LEN`); null when only the context length limits it. */
  max_prompt_tokens: z.number().int().positive().nullable(),
  /** Answer length when a request sets no `max_tokens`. */
  default_max_tokens: z.number().int().positive(),
})
/** A language model's generation state in `/health`. */
export type GenerationHealth = z.infer<typeof GenerationHealthSchema>

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
  /** Why the model is `degraded`, `recovering` or `failed`, or null. */
  reason: z.string().nullable().optional(),
  /** When the model entered its state (ISO 8601). */
  since: z.string().optional(),
  /** While `recovering`: the attempt the backend is on and when it tries next (ISO 8601). */
  recovery: z.object({ attempt: z.number().int().positive(), retry_at: z.string() }).nullable().optional(),
  parallelism: ParallelismHealthSchema.nullable().optional(),
  /** Precision the device computes the model in; null before it loads. */
  precision: PrecisionSchema.nullable().optional(),
  self_test: SelfTestHealthSchema.nullable().optional(),
  /** Present when model.yaml has `warmup:` and a load got to it. */
  warmup: WarmupHealthSchema.nullable().optional(),
  /** Native inferences of this model given up on after their hard limit that are still running. */
  abandoned_calls: z.number().int().nonnegative().optional(),
  /** Present for language models (`generation:` in model.yaml), which serve the OpenAI routes and text tasks. */
  generation: GenerationHealthSchema.nullable().optional(),
})
/** One model's state in `/health`. */
export type ModelHealth = z.infer<typeof ModelHealthSchema>

const loadCounts = {
  active: z.number().int().nonnegative(),
  queued: z.number().int().nonnegative(),
  capacity: z.number().int().nonnegative(),
  queue_capacity: z.number().int().nonnegative(),
}

/**
 * Current load: inferences running, waiting, and how many can run/wait at once; `generation` counts sequences of
 * the language models that can serve (a generation holds its slot for its whole answer).
 */
export const LoadSchema = z.object({
  ...loadCounts,
  generation: z.object(loadCounts).optional(),
})
/** Worker load. */
export type Load = z.infer<typeof LoadSchema>

/** What the worker can do: the seeds' `{device, available}` kept, extended. */
export const CapabilitiesSchema = z
  .object({
    /** The best device any ready model runs on (`NPU`, `GPU`, `CPU`), or `none`. */
    device: z.string(),
    /** True when at least one model runs on the NPU now. */
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

/** The worker's self-tests at a glance: how often they run and how the last one of each model went. */
export const SelfTestSummarySchema = z.object({
  /** `self_test_interval_seconds`; 0 = only at load. */
  interval_seconds: z.number().nonnegative(),
  /** When the last self-test of any model ran (ISO 8601), or null. */
  last_run_at: z.string().nullable(),
  passed: z.number().int().nonnegative(),
  drifted: z.number().int().nonnegative(),
  failed: z.number().int().nonnegative(),
  no_reference: z.number().int().nonnegative(),
})
/** Self-test summary in `/health`. */
export type SelfTestSummary = z.infer<typeof SelfTestSummarySchema>

/** A native inference given up on after its hard limit, still running inside the runtime. */
export const AbandonedCallSchema = z.object({
  model: z.string(),
  version: z.string(),
  /** The thread or request still inside the runtime, e.g. `ort:mlp:1#0`. */
  thread: z.string(),
  /** When it was given up on (ISO 8601). */
  since: z.string(),
})
/** An abandoned native call in `/health`. */
export type AbandonedCallHealth = z.infer<typeof AbandonedCallSchema>

/**
 * Whether the worker's inference, decode and JSON threads run below its event loop's CPU priority (Linux nice
 * values), as the latest of them found when it started. Below is what keeps `/health` and request parsing
 * prompt while inference saturates the cores; `refused` means a sandbox or the kernel said no.
 */
export const ThreadPriorityHealthSchema = z.object({
  state: z.enum(['lowered', 'kept', 'refused', 'unsupported', 'not_lowered', 'no_thread_started']),
  /** The latest thread's nice value (null when unknown). */
  niceness: z.number().int().nullable(),
  /** The nice value the threads aim for. */
  target_niceness: z.number().int(),
  /** Whether a lowered thread may go back to the event loop's priority while it posts (null: not lowered). */
  can_restore: z.boolean().nullable(),
  /** Thread starts whose lowering was refused since the worker started. */
  refused_starts: z.number().int().nonnegative(),
  /** The thread that reported last, e.g. `ort:mlp:1#0`. */
  thread: z.string().nullable(),
  message: z.string(),
})
/** The thread priority block of `/health`. */
export type ThreadPriorityHealth = z.infer<typeof ThreadPriorityHealthSchema>

/** A registered task that cannot serve now, and why. */
export const UnavailableTaskSchema = z.object({ type: z.string(), reason: z.string() })
/** An unavailable task in `/health`. */
export type UnavailableTask = z.infer<typeof UnavailableTaskSchema>

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
    self_test: SelfTestSummarySchema.optional(),
    /** Native inferences abandoned after their hard limit and still running (they keep a core busy). */
    abandoned_calls: z.array(AbandonedCallSchema).optional(),
    /** Registered tasks that cannot serve now (an unreadable tokenizer, a failed model), with the reason. */
    unavailable_tasks: z.array(UnavailableTaskSchema).optional(),
    /** Inference threads' CPU priority against the event loop's; absent on workers older than the field. */
    thread_priority: ThreadPriorityHealthSchema.optional(),
  })
  .passthrough()
/** `GET /health` body. */
export type HealthResponse = z.infer<typeof HealthResponseSchema>
