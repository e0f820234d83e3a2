import fp from 'fastify-plugin'
import type { InferenceBackend } from '../backends/backend.js'
import { OnnxRuntimeBackend } from '../backends/onnxruntime.js'
import { OpenvinoBackend } from '../backends/openvino.js'
import type { WorkerConfig } from '../config.js'
import { modelDefaultsOf } from '../models/model-load-spec.js'
import { ModelRegistry } from '../models/model-registry.js'
import { scanModelRepository } from '../models/model-repository.js'

/** Options of the registry plugin. */
export interface RegistryPluginOptions {
  config: WorkerConfig
  /** Injected runtimes (tests); default: real OpenVINO (lazily loaded) and ONNX Runtime. */
  backends?: { openvino: InferenceBackend; onnxruntime: InferenceBackend }
}

/** Builds the registry for a config: scans the model repository and wires the backends. */
export function createModelRegistry(
  config: WorkerConfig,
  backends: { openvino: InferenceBackend; onnxruntime: InferenceBackend },
  log: ModelRegistryLog,
): ModelRegistry {
  const scan = scanModelRepository(config.models_dir)
  for (const { name, error } of scan.errors) log.error({ model: name }, `model skipped: ${error}`)
  return new ModelRegistry({
    specs: scan.specs,
    backends,
    defaults: modelDefaultsOf(config),
    cacheDir: config.cache_dir,
    log,
  })
}

type ModelRegistryLog = ConstructorParameters<typeof ModelRegistry>[0]['log']

declare module 'fastify' {
  interface FastifyInstance {
    registry: ModelRegistry
  }
}

/** Decorates `app.registry`; unloads every model when the app closes. */
export default fp<RegistryPluginOptions>(
  async (app, options) => {
    const backends = options.backends ?? {
      openvino: new OpenvinoBackend(),
      onnxruntime: new OnnxRuntimeBackend(),
    }
    const registry = createModelRegistry(options.config, backends, app.log)
    app.decorate('registry', registry)
    app.addHook('onClose', async () => {
      await registry.unloadAll()
      await Promise.all([backends.openvino.close(), backends.onnxruntime.close()])
    })
  },
  { name: 'registry', fastify: '5.x' },
)
