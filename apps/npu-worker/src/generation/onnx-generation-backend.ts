import type { AbandonedCall, BackendProbe } from '../backends/backend.js'
import type { GenerationBackend, GeneratorLoadSpec } from './generation-backend.js'
import { generationOnnxPath, resolveGenerationFiles } from './generation-files.js'
import type { GenerationFaults } from './generation-thread-protocol.js'
import { OnnxGenerationEngine } from './onnx-generation-engine.js'
import type { TextGenerator } from './text-generator.js'

/** Options of the ONNX Runtime generation backend. */
export interface OnnxGenerationBackendOptions {
  /** The compiled generation-thread.js (threads/thread-entries.ts); worker threads cannot run TypeScript. */
  threadEntry: URL
  /** Test-only faults per model name (the worker's `test_hooks`). */
  faults?: Readonly<Record<string, GenerationFaults>>
}

/**
 * Language models on the CPU with the worker's own ONNX Runtime engine (onnx-generation-engine.ts): the ONNX
 * decoder of the model (the model file, or the `.onnx` beside an IR), its decode loop in a worker thread.
 */
export class OnnxGenerationBackend implements GenerationBackend {
  readonly name = 'onnxruntime' as const
  readonly runtime = 'onnxruntime' as const
  readonly #options: OnnxGenerationBackendOptions
  readonly #engines = new Set<OnnxGenerationEngine>()

  constructor(options: OnnxGenerationBackendOptions) {
    this.#options = options
  }

  async probe(): Promise<BackendProbe> {
    return { available: true, version: null, devices: ['CPU'], error: null }
  }

  cannotLoad(spec: GeneratorLoadSpec): string | null {
    if (spec.device !== 'CPU') return `the ONNX Runtime engine runs on the CPU only, not ${spec.device}`
    return generationOnnxPath(spec.modelPath)
      ? null
      : `no ONNX decoder: ${spec.modelPath} is not ONNX and no .onnx (or model.onnx) is beside it`
  }

  async load(spec: GeneratorLoadSpec): Promise<TextGenerator> {
    const onnx = generationOnnxPath(spec.modelPath)
    if (!onnx || spec.device !== 'CPU') throw new Error(this.cannotLoad(spec) ?? 'cannot load')
    // ONNX Runtime reads ORT_DISABLE_TELEMETRY with getenv() when its environment is created, in the thread's
    // session: set on the main thread, where assigning process.env reaches the real environment (as
    // onnxruntime.ts does for its sessions). An explicit operator setting wins.
    process.env.ORT_DISABLE_TELEMETRY ??= '1'
    const { section } = spec
    const engine = await OnnxGenerationEngine.start({
      name: spec.name,
      version: spec.version,
      files: resolveGenerationFiles(onnx, spec.modelDir, section),
      threads: spec.threads,
      contextLength: section.context_length ?? null,
      maxSequences: section.max_sequences,
      defaultMaxTokens: section.max_new_tokens,
      prefillChunkTokens: section.prefill_chunk_tokens,
      stepTimeoutMs: spec.stepTimeoutMs,
      loadTimeoutMs: spec.loadTimeoutMs,
      threadEntry: this.#options.threadEntry,
      faults: this.#options.faults?.[spec.name] ?? null,
    })
    this.#engines.add(engine)
    return engine
  }

  abandonedCalls(): readonly AbandonedCall[] {
    return [...this.#engines].flatMap((engine) => engine.abandonedCalls())
  }

  async close(): Promise<void> {
    await Promise.all([...this.#engines].map((engine) => engine.unload()))
  }
}
