import fp from 'fastify-plugin'
import type { InferenceBackend } from '../backends/backend.js'
import type { WorkerConfig } from '../config.js'
import { modelDefaultsOf } from '../models/model-load-spec.js'
import { ModelRegistry } from '../models/model-registry.js'
import { scanModelRepository } from '../models/model-repository.js'

/** The runtimes a registry loads models with. */
export interface RegistryBackends {
  openvino: InferenceBackend
  onnxruntime: InferenceBackend
  /** ONNX Runtime for self-test references; default `onnxruntime` (a faulted one under test hooks must not be). */
  reference?: InferenceBackend
}

/** Options of the registry plugin. */
export interface RegistryPluginOptions {
  config: WorkerConfig
  backends: RegistryBackends
}

/** Builds the registry for a config: scans the model repository and wires the backends. */
export function createModelRegistry(
  config: WorkerConfig,
  backends: RegistryBackends,
  log: ModelRegistryLog,
): ModelRegistry {
  const scan = scanModelRepository(config.models_dir)
  for (const { name, error } of scan.errors) log.error({ model: name }, `model skipped: ${error}`)
  return new ModelRegistry({
    specs: scan.specs,
    backends: { openvino: backends.openvino, onnxruntime: backends.onnxruntime },
    ...(backends.reference ? { reference: backends.reference } : {}),
    defaults: modelDefaultsOf(config),
    cacheDir: config.cache_dir,
    log,
    selfTestIntervalSeconds: config.self_test_interval_seconds,
  })
}

type ModelRegistryLog = ConstructorParameters<typeof ModelRegistry>[0]['log']

declare module 'fastify' {
  interface FastifyInstance {
    registry: ModelRegistry
  }
}

/** Decorates `app.registry`; unloads every model and closes the backends when the app closes. */
export default fp<RegistryPluginOptions>(
  async (app, options) => {
    const { backends } = options
    const registry = createModelRegistry(options.config, backends, app.log)
    app.decorate('registry', registry)
    app.addHook('onClose', async () => {
      await registry.unloadAll()
      const all = new Set(
        [backends.openvino, backends.onnxruntime, backends.reference].filter((b) => b !== undefined),
      )
      await Promise.all([...all].map((backend) => backend.close()))
    })
  },
  { name: 'registry', fastify: '5.x' },
)
