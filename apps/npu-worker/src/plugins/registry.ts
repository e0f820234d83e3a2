import fp from 'fastify-plugin'
import type { InferenceBackend } from '../backends/backend.js'
import type { WorkerConfig } from '../config.js'
import { type GenerationBackends, GeneratorRegistry } from '../models/generator-registry.js'
import { modelDefaultsOf } from '../models/model-load-spec.js'
import { ModelRegistry } from '../models/model-registry.js'
import { scanModelRepository } from '../models/model-repository.js'

/** The runtimes a registry loads models with. */
export interface RegistryBackends {
  openvino: InferenceBackend
  onnxruntime: InferenceBackend
  /** ONNX Runtime for self-test references; default `onnxruntime` (a faulted one under test hooks must not be). */
  reference?: InferenceBackend
  /** The runtimes of the language models (`generation:` in model.yaml); without them none is loaded. */
  generation?: GenerationBackends
}

/** Options of the registry plugin. */
export interface RegistryPluginOptions {
  config: WorkerConfig
  backends: RegistryBackends
}

/**
 * Builds the registry for a config: scans the model repository and wires the backends. Language models
 * (`generation:` in model.yaml) go to their own registry, which the model registry loads and unloads with the rest.
 */
export function createModelRegistry(
  config: WorkerConfig,
  backends: RegistryBackends,
  log: ModelRegistryLog,
): ModelRegistry {
  const scan = scanModelRepository(config.models_dir)
  for (const { name, error } of scan.errors) log.error({ model: name }, `model skipped: ${error}`)
  const defaults = modelDefaultsOf(config)
  const generationSpecs = scan.specs.filter((spec) => spec.manifest.generation)
  if (generationSpecs.length > 0 && !backends.generation) {
    for (const spec of generationSpecs)
      log.error({ model: spec.name }, 'model skipped: no generation runtime')
  }
  const generators = backends.generation
    ? new GeneratorRegistry({
        specs: generationSpecs,
        backends: backends.generation,
        defaults,
        cacheDir: config.cache_dir,
        log,
        selfTestIntervalSeconds: config.self_test_interval_seconds,
      })
    : undefined
  return new ModelRegistry({
    specs: scan.specs.filter((spec) => !spec.manifest.generation),
    backends: { openvino: backends.openvino, onnxruntime: backends.onnxruntime },
    ...(backends.reference ? { reference: backends.reference } : {}),
    defaults,
    cacheDir: config.cache_dir,
    log,
    selfTestIntervalSeconds: config.self_test_interval_seconds,
    ...(generators ? { generators } : {}),
  })
}

type ModelRegistryLog = ConstructorParameters<typeof ModelRegistry>[0]['log']

declare module 'fastify' {
  interface FastifyInstance {
    registry: ModelRegistry
    /** The language models (`app.registry` loads and unloads them with the rest). */
    generators: GeneratorRegistry
  }
}

/** Decorates `app.registry` and `app.generators`; unloads every model and closes the backends when the app closes. */
export default fp<RegistryPluginOptions>(
  async (app, options) => {
    const { backends } = options
    const registry = createModelRegistry(options.config, backends, app.log)
    app.decorate('registry', registry)
    app.decorate('generators', registry.generators)
    app.addHook('onClose', async () => {
      await registry.unloadAll()
      const all = new Set(
        [backends.openvino, backends.onnxruntime, backends.reference].filter((b) => b !== undefined),
      )
      await Promise.all([
        ...[...all].map((backend) => backend.close()),
        backends.generation?.genai.close(),
        backends.generation?.onnxruntime.close(),
      ])
    })
  },
  { name: 'registry', fastify: '5.x' },
)
