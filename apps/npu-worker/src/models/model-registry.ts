import type { BackendName, FallbackStep, ModelHealth, ModelState } from '@npu-fleet/protocol'
import type { FastifyBaseLogger } from 'fastify'
import type { BackendProbe, InferenceBackend, LoadedModel, ModelLoadSpec } from '../backends/backend.js'
import { batchingHealth, batchingPolicy } from '../scheduler/batching-policy.js'
import { loadSpecFor, type ModelDefaults } from './model-load-spec.js'
import type { ModelManifest } from './model-manifest.js'
import type { ModelVersionSpec } from './model-repository.js'

export type { ModelDefaults } from './model-load-spec.js'

/** Options of the registry. */
export interface ModelRegistryOptions {
  specs: ModelVersionSpec[]
  backends: { openvino: InferenceBackend; onnxruntime: InferenceBackend }
  defaults: ModelDefaults
  cacheDir: string | null
  log: Pick<FastifyBaseLogger, 'info' | 'warn' | 'error'>
  /** Models loading at once: compiling is CPU- and memory-heavy, and the port must stay responsive. */
  loadConcurrency?: number
}

/** One attempt of the fallback chain. */
interface LoadAttempt {
  backend: BackendName
  device: string
}

/** One model version and its lifecycle on this worker. */
export class RegisteredModel {
  state: ModelState = 'loading'
  model: LoadedModel | null = null
  fallbackChain: FallbackStep[] = []
  error: string | null = null

  constructor(readonly spec: ModelVersionSpec) {}

  get name(): string {
    return this.spec.name
  }
  get version(): string {
    return this.spec.version
  }
  get manifest(): ModelManifest {
    return this.spec.manifest
  }
  get modelPath(): string {
    return this.spec.modelPath
  }
  /** Requests allowed to wait beyond those running. */
  queueCapacity(defaultMaxQueued: number): number {
    return this.manifest.queue.max_queued ?? defaultMaxQueued
  }

  /** True when the model runs somewhere other than its first choice (OpenVINO on its first device). */
  get onFallback(): boolean {
    if (!this.model) return false
    return this.model.backend !== 'openvino' || this.model.device !== this.manifest.devices[0]
  }

  /** This version's state in the protocol's `/health` shape. */
  health(): ModelHealth {
    return {
      name: this.name,
      version: this.version,
      state: this.state,
      ready: this.state === 'ready',
      backend: this.model?.backend ?? null,
      device: this.model?.device ?? null,
      preferred_device: this.manifest.devices[0] ?? 'NPU',
      fallback: this.onFallback,
      fallback_chain: this.fallbackChain,
      compiled_batch_sizes: this.model?.compiledBatchSizes ? [...this.model.compiledBatchSizes] : null,
      ...(this.manifest.batching && this.model
        ? { batching: batchingHealth(this.manifest, batchingPolicy(this.manifest, this.model)) }
        : {}),
      error: this.error,
    }
  }
}

/** Holds every model version, loads each through the fallback chain, and unloads them at shutdown. */
export class ModelRegistry {
  readonly #models: RegisteredModel[]
  readonly #options: ModelRegistryOptions
  #probes: Record<BackendName, BackendProbe> | null = null

  constructor(options: ModelRegistryOptions) {
    this.#options = options
    this.#models = options.specs.map((spec) => new RegisteredModel(spec))
  }

  /** Backend probes from the last `loadAll` (null before it). */
  get probes(): Record<BackendName, BackendProbe> | null {
    return this.#probes
  }

  /** Names of all models, sorted. */
  get names(): string[] {
    return [...new Set(this.#models.map((m) => m.name))].sort()
  }

  /** Every registered version. */
  all(): RegisteredModel[] {
    return [...this.#models]
  }

  /** Versions of one model, highest first. */
  versions(name: string): RegisteredModel[] {
    return this.#models.filter((m) => m.name === name).sort((a, b) => Number(b.version) - Number(a.version))
  }

  /** A specific version, or (without one) the highest ready version, else the highest. */
  resolve(name: string, version?: string): RegisteredModel | undefined {
    const versions = this.versions(name)
    if (version !== undefined) return versions.find((m) => m.version === version)
    return versions.find((m) => m.state === 'ready') ?? versions[0]
  }

  /** Probes both backends, then loads every version; never throws (failures are recorded per model). */
  async loadAll(): Promise<void> {
    const { openvino, onnxruntime } = this.#options.backends
    const [ov, ort] = await Promise.all([openvino.probe(), onnxruntime.probe()])
    this.#probes = { openvino: ov, onnxruntime: ort }
    const queue = [...this.#models]
    const runners = Array.from({ length: Math.max(1, this.#options.loadConcurrency ?? 2) }, async () => {
      for (let next = queue.shift(); next; next = queue.shift()) await this.#load(next)
    })
    await Promise.all(runners)
  }

  /** Unloads every loaded model. */
  async unloadAll(): Promise<void> {
    await Promise.all(
      this.#models.map(async (m) => {
        const model = m.model
        if (!model) return
        m.state = 'unloading'
        try {
          await model.unload()
        } finally {
          m.model = null
        }
      }),
    )
  }

  /** The fallback chain: OpenVINO on each preferred device, then OpenVINO CPU, then ONNX Runtime CPU. */
  #attempts(m: RegisteredModel): LoadAttempt[] {
    const attempts: LoadAttempt[] = m.manifest.devices.map((device) => ({ backend: 'openvino', device }))
    if (!m.manifest.devices.includes('CPU')) attempts.push({ backend: 'openvino', device: 'CPU' })
    if (m.modelPath.endsWith('.onnx')) attempts.push({ backend: 'onnxruntime', device: 'CPU' })
    return attempts
  }

  async #load(m: RegisteredModel): Promise<void> {
    const { log } = this.#options
    for (const attempt of this.#attempts(m)) {
      const skip = this.#skipReason(attempt)
      if (skip) {
        m.fallbackChain.push({ ...attempt, reason: skip })
        continue
      }
      try {
        m.model = await this.#options.backends[attempt.backend].load(this.#loadSpec(m, attempt.device))
        m.state = 'ready'
        const level = m.fallbackChain.length > 0 ? 'warn' : 'info'
        log[level](
          {
            model: m.name,
            version: m.version,
            backend: attempt.backend,
            device: attempt.device,
            fallback: m.fallbackChain,
          },
          'model ready',
        )
        return
      } catch (error) {
        m.fallbackChain.push({ ...attempt, reason: (error as Error).message })
      }
    }
    m.state = 'failed'
    m.error =
      m.fallbackChain.map((s) => `${s.backend}/${s.device}: ${s.reason}`).join('; ') ||
      'no backend can load it'
    log.error({ model: m.name, version: m.version, fallback: m.fallbackChain }, 'model failed to load')
  }

  /** Why an attempt cannot work, known from the probes without trying it. */
  #skipReason({ backend, device }: LoadAttempt): string | null {
    const probe = this.#probes?.[backend]
    if (!probe) return null
    const runtime = backend === 'openvino' ? 'OpenVINO' : 'ONNX Runtime'
    if (!probe.available) return `${runtime} runtime unavailable: ${probe.error ?? 'unknown reason'}`
    if (!probe.devices.includes(device)) {
      return `device ${device} not present (${runtime} devices: ${probe.devices.join(', ') || 'none'})`
    }
    return null
  }

  #loadSpec(m: RegisteredModel, device: string): ModelLoadSpec {
    return loadSpecFor(m.spec, device, this.#options.defaults, this.#options.cacheDir)
  }
}
