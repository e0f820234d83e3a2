import type { BackendName } from '@npu-fleet/protocol'
import type { AbandonedCall, BackendProbe } from '../backends/backend.js'
import type { GenerationSection } from './generation-manifest.js'
import type { TextGenerator } from './text-generator.js'

/** What generates text: OpenVINO GenAI's `LLMPipeline`, or the worker's ONNX Runtime engine. */
export type GenerationRuntime = 'openvino_genai' | 'onnxruntime'

/** Everything a generation backend needs to load one language model version on one device. */
export interface GeneratorLoadSpec {
  name: string
  version: string
  /** The model file the repository found (`openvino_model.xml` or an `.onnx`). */
  modelPath: string
  /** The model folder (model.yaml and side files). */
  modelDir: string
  device: string
  section: GenerationSection
  /** ONNX Runtime intra-op threads (model.yaml `threads`). */
  threads: number
  /** Hard limit of one step or of the wait for the next token, ms. */
  stepTimeoutMs: number
  /** Limit of loading (compiling) the model, ms. */
  loadTimeoutMs: number
  /** The worker's `cache_dir` (OpenVINO `CACHE_DIR`). */
  cacheDir: string | null
}

/** One runtime that loads language models. Implementations: openvino-genai-backend.ts, onnx-generation-backend.ts. */
export interface GenerationBackend {
  /** The inference runtime underneath, as `/health` names backends. */
  readonly name: BackendName
  readonly runtime: GenerationRuntime
  /** Loads the runtime (lazily, once) and lists its devices; never throws. */
  probe(): Promise<BackendProbe>
  /** Why this backend cannot load `spec` at all (a missing file), known without trying; null when it may. */
  cannotLoad(spec: GeneratorLoadSpec): string | null
  /** Loads the model on `spec.device`; rejects with a message that says why it could not. */
  load(spec: GeneratorLoadSpec): Promise<TextGenerator>
  /** Native work given up on and still running, across every generator this backend loaded. */
  abandonedCalls(): readonly AbandonedCall[]
  /** Releases what the backend holds. */
  close(): Promise<void>
}
