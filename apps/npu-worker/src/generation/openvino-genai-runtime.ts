import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { Worker } from 'node:worker_threads'
import type {
  ChatHistory,
  ChatMessage,
  DecodedResults,
  EncodeOptions,
  GenerationConfig,
  GenerationFinishReason,
  LLMPipeline,
  LLMPipelineProperties,
  PerfMetrics,
  StreamingStatus,
  Tokenizer,
} from 'openvino-genai-node'
import { describeLoadError } from '../backends/openvino-runtime.js'

// The part of openvino-genai-node (OpenVINO GenAI for Node, 2026.x) the GenAI generator uses, picked from the
// package's own declarations (openvino-genai-node/types/). Its interfaces fold constructors into instance types
// (`interface ChatHistory { new (...): ChatHistory; ... }`), which no plain object can satisfy, so members that
// return or take such interfaces are re-declared with the Genai* types below; `asGenaiRuntime` assigns the real
// module to `GenaiRuntime`, so an incompatible upstream change breaks compilation here, and
// src/testing/fake-openvino-genai.ts implements the same types.
//
// Loading it is a trap (ENVIRONMENT.md): the package is an ES module whose top level requires the native addon,
// and a failed `import()` rejects twice, the second time as an unhandled rejection that ends the process under
// Node's default, try/catch or not. So the loader (1) looks for both native addons on disk, then (2) imports the
// package once in a throw-away worker thread, where that second rejection ends only the thread, and (3) imports
// it on the main thread only after that succeeded.

/** A chat history (`ChatHistory` of openvino-genai-node): built from messages, read back. */
export type GenaiChatHistory = Pick<ChatHistory, 'getMessages'>

/** Token ids of an encoded prompt: only the shape is read (`[1, tokens]`). */
export interface GenaiTokenizedInputs {
  input_ids: { getShape(): number[] }
}

/** The pipeline's tokenizer (`Tokenizer` of openvino-genai-node): used to count prompt tokens. */
export type GenaiTokenizer = Pick<Tokenizer, 'applyChatTemplate'> & {
  encode(prompts: string, options?: EncodeOptions): GenaiTokenizedInputs
}

/** Token counts and timings of one generation (`PerfMetrics` of openvino-genai-node). */
export type GenaiPerfMetrics = Pick<PerfMetrics, 'getNumInputTokens' | 'getNumGeneratedTokens' | 'getTTFT'>

/** The result of `generate` (`DecodedResults` of openvino-genai-node). */
export type GenaiDecodedResults = Pick<DecodedResults, 'texts' | 'finishReasons'> & {
  perfMetrics: GenaiPerfMetrics
}

/** The streamer callback: each decoded piece of text; the returned status keeps going, stops or cancels. */
export type GenaiStreamer = (chunk: string) => StreamingStatus

/** An initialized `LLMPipeline` (openvino-genai-node's class, as its `LLMPipeline()` factory resolves it). */
export type GenaiLlmPipeline = Pick<Awaited<ReturnType<typeof LLMPipeline>>, 'stream'> & {
  /**
   * A string is tokenized with the tokenizer's special tokens and, unless `apply_chat_template: false`, wrapped in
   * the chat template as one user message (GenAI 2025+ defaults it to true); a ChatHistory is rendered with the
   * template. The streamer's `CANCEL` ends the generation.
   */
  generate(
    inputs: string | GenaiChatHistory,
    generationConfig?: GenerationConfig,
    streamer?: GenaiStreamer,
  ): Promise<GenaiDecodedResults>
  getTokenizer(): GenaiTokenizer
}

/** The part of openvino-genai-node the GenAI generator uses. The real module and the test fake both fit. */
export interface GenaiRuntime {
  /** Constructs and initializes a pipeline (`new LLMPipeline(...)`, then `init()`): reads and compiles the model folder. */
  LLMPipeline(modelPath: string, device: string, properties: LLMPipelineProperties): Promise<GenaiLlmPipeline>
  ChatHistory: new (messages?: ChatMessage[]) => GenaiChatHistory
  /** The enum object at run time (its values are what the streamer returns). */
  StreamingStatus: typeof StreamingStatus
  GenerationFinishReason: typeof GenerationFinishReason
}

/** Result of loading the runtime: the runtime, or why it cannot be used here. */
export type GenaiRuntimeLoad = { runtime: GenaiRuntime; error: null } | { runtime: null; error: string }

/** Where the package and its native addons are. */
export interface GenaiPackageFiles {
  /** The package's ES module entry (`dist/index.js`). */
  entry: string
  /** Native addons it needs: its own `bin/genai_node_addon.node` and openvino-node's `bin/ov_node_addon.node`. */
  addons: string[]
}

/** Longest the probe import in its throw-away thread may take before the runtime counts as unusable. */
const PROBE_LIMIT_MS = 60_000

/** Finds the package and the addons it will load; throws when the package itself is not installed. */
export function genaiPackageFiles(): GenaiPackageFiles {
  const require = createRequire(import.meta.url)
  const entry = require.resolve('openvino-genai-node')
  const root = dirname(dirname(entry))
  // openvino-genai-node loads openvino-node's addon first (dist/addon.js imports it), then its own.
  const openvino = createRequire(entry).resolve('openvino-node')
  return {
    entry,
    addons: [
      join(dirname(dirname(openvino)), 'bin', 'ov_node_addon.node'),
      join(root, 'bin', 'genai_node_addon.node'),
    ],
  }
}

/** Imports the package in a worker thread and reports how it went; the main thread never sees its rejections. */
export function probeImport(entry: string, limitMs = PROBE_LIMIT_MS): Promise<string | null> {
  const url = pathToFileURL(entry).href
  // Only dynamic imports: the eval code runs as CommonJS, or as a module when the process runs with
  // --input-type=module (workers inherit it).
  const code = `import('node:worker_threads').then(({ parentPort }) => import(${JSON.stringify(url)}).then(
  (m) => parentPort.postMessage(typeof m.LLMPipeline === 'function' ? null : 'the module has no LLMPipeline'),
  (e) => parentPort.postMessage((e && e.code ? e.code + ': ' : '') + String(e && e.message ? e.message : e).split('\\n')[0]),
))`
  return new Promise((resolve) => {
    const worker = new Worker(code, { eval: true, name: 'openvino-genai-probe' })
    const done = (outcome: string | null) => {
      clearTimeout(timer)
      resolve(outcome)
      // The thread may hang in native code; it must not keep the process alive.
      worker.unref()
      void worker.terminate().catch(() => {})
    }
    const timer = setTimeout(() => done(`importing it did not finish within ${limitMs} ms`), limitMs)
    worker.once('message', (outcome: string | null) => done(outcome))
    // The package's second, unhandled rejection lands here and ends only this thread.
    worker.once('error', (error) => done(error.message.split('\n')[0] ?? String(error)))
    worker.once('exit', (exitCode) => done(`the import thread exited with code ${exitCode}`))
  })
}

/** Type-check the real module against `GenaiRuntime`; every member is checked by assignment. */
function asGenaiRuntime(real: typeof import('openvino-genai-node')): GenaiRuntime {
  // `ChatHistory` is declared as an interface holding its own constructor; its construct signature is the
  // constructor, and the instances it makes carry every member GenaiChatHistory picks.
  const ChatHistoryOfAddon: new (messages?: ChatMessage[]) => ChatHistory = real.ChatHistory
  const { LLMPipeline, StreamingStatus, GenerationFinishReason } = real
  return {
    // The factory resolves the class instance, whose `generate` takes ChatHistory (a supertype of what the
    // generator passes: objects this same module made) and resolves DecodedResults.
    LLMPipeline: (modelPath, device, properties) =>
      LLMPipeline(modelPath, device, properties) as unknown as Promise<GenaiLlmPipeline>,
    ChatHistory: ChatHistoryOfAddon,
    StreamingStatus,
    GenerationFinishReason,
  }
}

let cached: Promise<GenaiRuntimeLoad> | undefined

/**
 * Loads `openvino-genai-node` once, never throwing and never taking the process down: without its native runtime
 * (no `bin/` in the package, as on every machine that installs it offline) or with a broken one, it resolves
 * with the reason instead. `files` is for tests (a copy of the package with a broken addon).
 */
export function loadOpenvinoGenaiRuntime(files?: () => GenaiPackageFiles): Promise<GenaiRuntimeLoad> {
  if (files === undefined && cached) return cached
  const load = (async (): Promise<GenaiRuntimeLoad> => {
    let found: GenaiPackageFiles
    try {
      found = (files ?? genaiPackageFiles)()
    } catch (error) {
      return { runtime: null, error: describeLoadError('openvino-genai-node', error) }
    }
    const missing = found.addons.find((addon) => !existsSync(addon))
    if (missing) {
      return {
        runtime: null,
        error: `openvino-genai-node cannot be loaded: its native addon ${missing} is missing (the OpenVINO GenAI runtime is not installed)`,
      }
    }
    const probe = await probeImport(found.entry)
    if (probe !== null) return { runtime: null, error: `openvino-genai-node cannot be loaded: ${probe}` }
    try {
      const module: typeof import('openvino-genai-node') = await import(pathToFileURL(found.entry).href)
      return { runtime: asGenaiRuntime(module), error: null }
    } catch (error) {
      return { runtime: null, error: describeLoadError('openvino-genai-node', error) }
    }
  })()
  if (files === undefined) cached = load
  return load
}
