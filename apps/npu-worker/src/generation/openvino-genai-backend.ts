import { existsSync, mkdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import type { AbandonedCall, BackendProbe } from '../backends/backend.js'
import { loadOpenvinoRuntime } from '../backends/openvino-runtime.js'
import type { GenerationBackend, GeneratorLoadSpec } from './generation-backend.js'
import { GENAI_MODEL_FILE, readOptionalJson } from './generation-files.js'
import { type GenaiGeneratorSpec, OpenvinoGenaiGenerator } from './openvino-genai-generator.js'
import { type GenaiRuntimeLoad, loadOpenvinoGenaiRuntime } from './openvino-genai-runtime.js'
import type { TextGenerator } from './text-generator.js'

/** Options of the OpenVINO GenAI backend; every default is the real runtime. */
export interface OpenvinoGenaiBackendOptions {
  /** Loads the runtime once (default: openvino-genai-node, probed so that a broken addon cannot end the process). */
  loadRuntime?: () => Promise<GenaiRuntimeLoad>
  /** The devices OpenVINO lists (default: openvino-node's `getAvailableDevices()`, GenAI's own runtime underneath). */
  listDevices?: () => string[]
  /** Releases what a test runtime holds (the real one has nothing to release). */
  onClose?: () => Promise<void>
}

/** The devices openvino-node lists; throws with the loader's reason when it cannot load. */
function openvinoDevices(): string[] {
  const load = loadOpenvinoRuntime()
  if (!load.runtime) throw new Error(load.error)
  return new load.runtime.Core().getAvailableDevices()
}

/**
 * Language models through OpenVINO GenAI's `LLMPipeline` (openvino-genai-generator.ts), on the NPU with its
 * static-pipeline properties from model.yaml, or on the CPU/GPU. Reads the folder of the model's
 * `openvino_model.xml` (with the OpenVINO tokenizer and detokenizer IRs beside it, as optimum-intel exports them).
 */
export class OpenvinoGenaiBackend implements GenerationBackend {
  readonly name = 'openvino' as const
  readonly runtime = 'openvino_genai' as const
  readonly #options: OpenvinoGenaiBackendOptions
  #load: Promise<GenaiRuntimeLoad> | null = null
  readonly #generators = new Set<OpenvinoGenaiGenerator>()

  constructor(options: OpenvinoGenaiBackendOptions = {}) {
    this.#options = options
  }

  #runtime(): Promise<GenaiRuntimeLoad> {
    this.#load ??= (this.#options.loadRuntime ?? (() => loadOpenvinoGenaiRuntime()))()
    return this.#load
  }

  async probe(): Promise<BackendProbe> {
    const load = await this.#runtime()
    if (!load.runtime) return { available: false, version: null, devices: [], error: load.error }
    try {
      return {
        available: true,
        version: null,
        devices: (this.#options.listDevices ?? openvinoDevices)(),
        error: null,
      }
    } catch (error) {
      return { available: false, version: null, devices: [], error: (error as Error).message }
    }
  }

  cannotLoad(spec: GeneratorLoadSpec): string | null {
    const ir = join(dirname(spec.modelPath), GENAI_MODEL_FILE)
    return existsSync(ir)
      ? null
      : `OpenVINO GenAI reads an OpenVINO IR folder, and ${ir} does not exist (export the model with optimum-cli export openvino)`
  }

  async load(spec: GeneratorLoadSpec): Promise<TextGenerator> {
    const load = await this.#runtime()
    if (!load.runtime) throw new Error(load.error)
    const why = this.cannotLoad(spec)
    if (why) throw new Error(why)
    const generator = await OpenvinoGenaiGenerator.start(load.runtime, this.#generatorSpec(spec))
    this.#generators.add(generator)
    return generator
  }

  /** Pipeline properties and limits: the NPU's static pipeline is sized by MAX_PROMPT_LEN + MIN_RESPONSE_LEN. */
  #generatorSpec(spec: GeneratorLoadSpec): GenaiGeneratorSpec {
    const { section } = spec
    const modelDir = dirname(spec.modelPath)
    const npu = spec.device.split('.')[0] === 'NPU'
    const properties: Record<string, string> = {}
    if (spec.cacheDir) {
      try {
        mkdirSync(spec.cacheDir, { recursive: true })
      } catch (error) {
        throw new Error(`CACHE_DIR ${spec.cacheDir} cannot be created: ${(error as Error).message}`)
      }
      properties.CACHE_DIR = spec.cacheDir
    }
    let contextLength: number
    if (npu) {
      properties.MAX_PROMPT_LEN = String(section.max_prompt_len)
      properties.MIN_RESPONSE_LEN = String(section.min_response_len)
      properties.GENERATE_HINT = section.generate_hint
      contextLength = section.max_prompt_len + section.min_response_len
    } else {
      const config = readOptionalJson(
        existsSync(join(modelDir, 'config.json')) ? join(modelDir, 'config.json') : null,
      )
      const fromConfig = config.max_position_embeddings
      const context = section.context_length ?? (typeof fromConfig === 'number' ? fromConfig : null)
      if (context === null) {
        throw new Error(
          'no context length: set generation.context_length in model.yaml (config.json has no max_position_embeddings)',
        )
      }
      contextLength = context
    }
    return {
      name: spec.name,
      version: spec.version,
      modelDir,
      device: spec.device,
      properties,
      contextLength,
      maxPromptTokens: npu ? section.max_prompt_len : null,
      defaultMaxTokens: section.max_new_tokens,
      stepTimeoutMs: spec.stepTimeoutMs,
      loadTimeoutMs: spec.loadTimeoutMs,
    }
  }

  abandonedCalls(): readonly AbandonedCall[] {
    return [...this.#generators].flatMap((generator) => generator.abandonedCalls())
  }

  async close(): Promise<void> {
    await Promise.all([...this.#generators].map((generator) => generator.unload()))
    await this.#options.onClose?.()
  }
}
