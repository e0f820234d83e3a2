import type { ModelLoadSpec, PerformanceHint } from '../backends/backend.js'
import type { WorkerConfig } from '../config.js'
import { instanceIdleTimeoutMs, type ModelManifest } from './model-manifest.js'
import type { ModelVersionSpec } from './model-repository.js'

/** Worker-wide defaults a manifest may override. */
export interface ModelDefaults {
  threads: number
  instances: number
  /** Idle ms before an ONNX Runtime instance beyond the first retires; null: always on. */
  instanceIdleTimeoutMs: number | null
  queueMaxQueued: number
  performanceHint: PerformanceHint
  inferTimeoutMs: number
}

/** The defaults of a worker configuration (the registry and `npu-worker doctor` both load with these). */
export function modelDefaultsOf(config: WorkerConfig): ModelDefaults {
  return {
    threads: config.default_threads,
    instances: config.default_instances,
    instanceIdleTimeoutMs: instanceIdleTimeoutMs(config.default_instance_idle_timeout_ms),
    queueMaxQueued: config.queue.max_queued,
    performanceHint: 'LATENCY',
    inferTimeoutMs: config.inference_timeout_ms,
  }
}

/**
 * Static shapes to compile. With batching configured, the batch dimension of every static shape becomes
 * `max_batch_size`: the NPU then runs one merged batch per inference, and smaller batches are padded.
 */
export function staticShapesFor(manifest: ModelManifest): Record<string, number[]> | undefined {
  const shapes = manifest.static_shapes
  if (!shapes || !manifest.batching) return shapes
  const batch = manifest.batching.max_batch_size
  return Object.fromEntries(Object.entries(shapes).map(([name, dims]) => [name, [batch, ...dims.slice(1)]]))
}

/** What a backend is asked to load for one model version on one device. */
export function loadSpecFor(
  spec: ModelVersionSpec,
  device: string,
  defaults: ModelDefaults,
  cacheDir: string | null,
): ModelLoadSpec {
  const { manifest } = spec
  return {
    name: spec.name,
    version: spec.version,
    modelPath: spec.modelPath,
    device,
    ...(manifest.static_shapes ? { staticShapes: staticShapesFor(manifest) } : {}),
    threads: manifest.threads ?? defaults.threads,
    instances: manifest.instances ?? defaults.instances,
    instanceIdleTimeoutMs:
      manifest.instance_idle_timeout_ms === undefined
        ? defaults.instanceIdleTimeoutMs
        : instanceIdleTimeoutMs(manifest.instance_idle_timeout_ms),
    performanceHint: manifest.performance_hint,
    cacheDir,
    inferTimeoutMs: manifest.inference_timeout_ms ?? defaults.inferTimeoutMs,
  }
}
