import type { BackendName, Datatype, InferencePrecision, Parameters } from '@npu-fleet/protocol'
import type { Tensor } from './tensor.js'

/** Name, datatype and shape of a model input or output; -1 marks a dynamic dimension. */
export interface TensorInfo {
  name: string
  datatype: Datatype
  shape: number[]
  /**
   * Per dimension, the `[min, max]` a dynamic dimension is bounded to (an IR converted with intervals, e.g.
   * `[1..8,384]`), or null where the shape says all there is. Absent when no dimension is bounded.
   */
  bounds?: readonly ([number, number] | null)[]
}

/** OpenVINO performance hint, passed through to `compileModel`. */
export type PerformanceHint = 'LATENCY' | 'THROUGHPUT' | 'CUMULATIVE_THROUGHPUT'

/** Everything a backend needs to load one model version on one device. */
export interface ModelLoadSpec {
  name: string
  version: string
  /** ONNX file, or OpenVINO IR `.xml` (its `.bin` beside it). OpenVINO reads both; ONNX Runtime only ONNX. */
  modelPath: string
  /** Device to compile for: `NPU`, `GPU`, `CPU` (ONNX Runtime accepts only `CPU`). */
  device: string
  /**
   * Static input shapes by input name. Required for the NPU (it compiles static shapes only);
   * applied with `model.reshape` before compiling. Batch sizes to compile come from the first dimension.
   */
  staticShapes?: Record<string, number[]>
  /** Threads for one inference (ONNX Runtime `intraOpNumThreads`, OpenVINO `INFERENCE_NUM_THREADS` on CPU). */
  threads: number
  /** Parallel inference instances (ONNX Runtime worker threads; OpenVINO upper bound on the request pool). */
  instances: number
  /**
   * ONNX Runtime: how long an instance beyond a model's first may sit idle before it is retired (its thread and
   * session end; the next request that would wait starts it again). Null or absent: every instance starts at
   * load and stays. OpenVINO ignores it (its infer requests share one compiled model and cost little each).
   */
  instanceIdleTimeoutMs?: number | null
  performanceHint: PerformanceHint
  /** Folder for OpenVINO's compiled-model cache (`CACHE_DIR`); null disables it. */
  cacheDir: string | null
  /**
   * Hard limit of one native inference, in ms. A call still running past it is abandoned: it rejects with
   * {@link InferTimeoutError} and the backend recycles its slot (a new infer request or queue, a recompile,
   * a replacement thread), so a request that never settles cannot wedge the model.
   */
  inferTimeoutMs: number
}

/** What a loaded model can serve with right now (see `LoadedModel.condition`). */
export type ModelCondition =
  /** Every slot works. */
  | { kind: 'serving' }
  /**
   * Some slots are out (a thread being replaced, a request being recycled): `live` of `parallelism` take
   * requests (a dormant ONNX Runtime instance counts: it is started for a request that would wait).
   */
  | { kind: 'impaired'; live: number; reason: string }
  /** Nothing can serve now; the backend recovers by itself, retrying with backoff (`retryAt`: epoch ms). */
  | { kind: 'recovering'; reason: string; attempt: number; retryAt: number }

/**
 * How a model's instances stand now, for a backend that starts them on demand and retires them when idle (ONNX
 * Runtime). Every configured instance is in exactly one of these.
 */
export interface InstanceCounts {
  /** With a session, idle or running an inference. */
  running: number
  /** Loading a session: on demand (a request would wait), or replacing one that was lost. */
  starting: number
  /** No thread, by design: not needed yet, or retired after `idleTimeoutMs` idle. A waiting request starts one. */
  dormant: number
  /** Lost and not yet restarted: waiting out the backoff before the next start, or closed by an unload. */
  down: number
  /** Idle time after which an instance beyond the first is retired; null: every instance always on. */
  idleTimeoutMs: number | null
}

/** An inference abandoned after `ModelLoadSpec.inferTimeoutMs`; its slot is recycled. */
export class InferTimeoutError extends Error {
  override name = 'InferTimeoutError'
  readonly code = 'INFER_TIMEOUT'
  constructor(
    readonly model: string,
    readonly timeoutMs: number,
  ) {
    super(`native inference of ${model} did not settle within ${timeoutMs} ms; its slot is being recycled`)
  }
}

/** Options of one `infer` call. */
export interface InferOptions {
  /**
   * The caller gives up the input buffers: a backend that hands them to another thread may transfer them
   * instead of copying (they are detached afterwards). Off by default: callers keep their tensors.
   */
  transferInputs?: boolean
  /**
   * Takes back each input buffer the backend moved to another thread, once the inference is done with it, for
   * the caller to reuse (no fresh memory to fault in for the next request). Backends that keep no such
   * buffers never call it.
   */
  recycleInputs?: (buffer: ArrayBuffer) => void
  /**
   * The request's own protocol parameters (those KServe leaves to the server), passed through untouched. The
   * ONNX Runtime and OpenVINO backends read none; a backend whose models take per-request settings does.
   */
  parameters?: Readonly<Parameters>
  /**
   * A maintenance run (the self-test, its golden case at load, a warmup): it starts no dormant instance and does
   * not count as use, so it keeps no idle instance from being retired, nor makes the last one due for a refresh
   * (ONNX Runtime). It waits for an instance that runs.
   */
  background?: boolean
}

/** A model compiled and ready on one backend and device. */
export interface LoadedModel {
  readonly backend: BackendName
  readonly device: string
  readonly inputs: readonly TensorInfo[]
  readonly outputs: readonly TensorInfo[]
  /** How many `infer` calls can usefully run at once (worker threads, infer requests). */
  readonly parallelism: number
  /** Batch sizes compiled for static shapes, or null when the batch dimension is dynamic. */
  readonly compiledBatchSizes: readonly number[] | null
  /** Precision the device computes this model in (`INFERENCE_PRECISION_HINT` when reported, else the device's). */
  readonly precision: InferencePrecision
  /** What can serve right now. Read on every `/health`, so it must be cheap. */
  condition(): ModelCondition
  /** Sets the one listener told of every change of `condition()` (the registry, which moves the model's state). */
  onConditionChange(listener: (condition: ModelCondition) => void): void
  /**
   * Run one inference. Never runs on the main thread's event loop for longer than a copy.
   * Resolves with every output, or only `outputNames` when given.
   */
  infer(
    inputs: Readonly<Record<string, Tensor>>,
    outputNames?: readonly string[],
    options?: InferOptions,
  ): Promise<Record<string, Tensor>>
  /** Instances by state, for `/health`; absent where every slot is always there (OpenVINO's infer requests). */
  instanceCounts?(): InstanceCounts
  /** Release native resources; pending `infer` calls finish first, for at most `inferTimeoutMs`. */
  unload(): Promise<void>
}

/** A native inference given up on after its hard limit, whose thread could not be stopped (see onnxruntime.ts). */
export interface AbandonedCall {
  model: string
  version: string
  /** The thread (or request) still inside the runtime, e.g. `ort:mlp:1#0`. */
  thread: string
  /** When it was given up on (epoch ms). */
  since: number
}

/** What a runtime reports about itself and the machine. */
export interface BackendProbe {
  /** False when the runtime cannot be loaded here (no native addon, no driver). */
  available: boolean
  /** Runtime version string, when loaded. */
  version: string | null
  /** Devices the runtime can use, e.g. `['CPU', 'NPU']`. */
  devices: string[]
  /** Why the runtime is unavailable, or null. */
  error: string | null
}

/** One inference runtime. Implementations: `openvino.ts`, `onnxruntime.ts`. */
export interface InferenceBackend {
  readonly name: BackendName
  /** Load the runtime (lazily, once) and list its devices; never throws. */
  probe(): Promise<BackendProbe>
  /** Compile `spec.modelPath` for `spec.device`; rejects with a message that says why it could not. */
  load(spec: ModelLoadSpec): Promise<LoadedModel>
  /** Release everything the backend holds. */
  close(): Promise<void>
  /**
   * Native calls abandoned after their hard limit that are still running, across every model this backend
   * loaded (unloaded ones included). The process cannot exit in order while any runs (server.ts). Absent: the
   * backend never leaves native work behind.
   */
  abandonedCalls?(): readonly AbandonedCall[]
}
