import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import type {
  ChatMessage as GenaiChatMessage,
  GenerationConfig,
  LLMPipelineProperties,
} from 'openvino-genai-node'
import { isDeviceListed } from '../backends/device-name.js'
import {
  GENAI_MODEL_FILE,
  generationOnnxPath,
  resolveGenerationFiles,
} from '../generation/generation-files.js'
import { GenerationSectionSchema } from '../generation/generation-manifest.js'
import type { GenerationFaults } from '../generation/generation-thread-protocol.js'
import {
  encodePrompt,
  type LanguageModelAssets,
  loadLanguageModelAssets,
} from '../generation/language-model-assets.js'
import { OnnxGenerationEngine } from '../generation/onnx-generation-engine.js'
import type {
  GenaiChatHistory,
  GenaiDecodedResults,
  GenaiLlmPipeline,
  GenaiRuntime,
  GenaiStreamer,
  GenaiTokenizer,
} from '../generation/openvino-genai-runtime.js'
import type { ChatMessage, GenerationInput, GenerationParameters } from '../generation/text-generator.js'

// A fake of the part of openvino-genai-node (2026.x) the GenAI generator uses, for hosts without its native
// runtime. Test-only: it lives in src/ so that real worker processes can run it, and only under `test_hooks`.
// It implements `GenaiRuntime`, whose members are picked from the package's own declarations, so upstream drift
// breaks compilation. No text is invented: every generation runs the worker's ONNX Runtime engine on the ONNX
// export beside the IR (the fake reads ONNX, as fake-openvino.ts does), in FP32 on every device; the NPU's FP16
// arithmetic is not emulated for decoders, so on the fake every device answers exactly what ONNX Runtime does.
//
// Behaviour mirrored from openvinotoolkit/openvino.genai (src/js, src/cpp) and named where it is chosen:
// - the `LLMPipeline(path, device, properties)` factory constructs and `init()`s; `init` reads
//   `openvino_model.xml` from the folder (a folder without it fails) and refuses a device the runtime does not list;
// - `generate(string | ChatHistory, config, streamer)`: a ChatHistory is rendered with the model's chat template;
//   a string is wrapped in the template as one user message unless `apply_chat_template: false` (the 2025+
//   default), else tokenized with the tokenizer's special tokens; the streamer gets each decoded piece and its
//   `STOP`/`CANCEL` ends the generation; `stop_strings` end it with the string left out
//   (`include_stop_str_in_output: false`); `do_sample: false` is greedy; the result holds `texts`,
//   `finishReasons` (`STOP` for an end token or a stop string, `LENGTH` for `max_new_tokens` or a full cache)
//   and `perfMetrics` (input and generated token counts, TTFT);
// - `stream(...)`: an async iterator of the same pieces whose `return()` cancels;
// - the NPU pipeline (StatefulLLMPipeline on NPU, `MAX_PROMPT_LEN` default 1024, `MIN_RESPONSE_LEN` default 128,
//   `GENERATE_HINT` FAST_COMPILE or BEST_PERF): its KV cache holds MAX_PROMPT_LEN + MIN_RESPONSE_LEN tokens, so
//   a generation ends with LENGTH when it is full; a prompt longer than MAX_PROMPT_LEN is not refused but
//   answered wrongly (the fake keeps only its last MAX_PROMPT_LEN tokens): the garbled answer the worker must
//   never let a client get.
// - `CACHE_DIR` (any device): created if missing; the compiled model is stored in it as one `<hash>.blob`, keyed
//   by the folder, device and properties (the fake writes a marker, not a real blob).

/** A fault of the fake runtime, by model (a folder name on the model's path). */
export interface FakeGenaiFaults {
  /** The generation after the first `after` never answers: no piece, no result (a wedged device). */
  hang?: { after: number }
  /** Pipeline creations after the first `after` that fail (`count` of them; all when null). */
  failCreations?: { after: number; count: number | null }
}

/** Options of {@link createFakeOpenvinoGenai}. */
export interface FakeOpenvinoGenaiOptions {
  /** Devices the runtime lists, e.g. `['NPU', 'CPU']`. */
  devices: readonly string[]
  /** The compiled generation thread entry of the engine that computes every answer. */
  generationThreadEntry: URL
  /** Faults by model name. */
  faults?: Readonly<Record<string, FakeGenaiFaults>>
}

/** What the fake saw: every pipeline created (with its properties), for tests of the generator's own work. */
export interface FakeGenaiRecord {
  pipelines: { modelPath: string; device: string; properties: Record<string, unknown> }[]
  /** Prompts the NPU pipeline answered wrongly because they were longer than MAX_PROMPT_LEN. */
  overlongPrompts: number
}

/** The enum objects of openvino-genai-node (utils.d.ts), with their run-time values. */
const StreamingStatus = { RUNNING: 0, STOP: 1, CANCEL: 2, TOOL_CALL_STOP: 3 } as const
const GenerationFinishReason = { NONE: 0, STOP: 1, LENGTH: 2, TOOL_CALL: 3 } as const
const NPU_DEFAULTS = { MAX_PROMPT_LEN: 1024, MIN_RESPONSE_LEN: 128 }
const GENERATE_HINTS = ['FAST_COMPILE', 'BEST_PERF']

/** `ChatHistory` of openvino-genai-node: the messages of a conversation. */
class FakeChatHistory implements GenaiChatHistory {
  readonly #messages: GenaiChatMessage[]
  constructor(messages: GenaiChatMessage[] = []) {
    this.#messages = messages.map((m) => ({ ...m }))
  }
  getMessages(): GenaiChatMessage[] {
    return this.#messages.map((m) => ({ ...m }))
  }
}

/** The model name a fault addresses: the folder above a version folder, else the folder itself. */
function modelNameOf(modelPath: string): string {
  const leaf = basename(modelPath)
  return /^[1-9][0-9]*$/.test(leaf) ? basename(dirname(modelPath)) : leaf
}

function positiveIntProperty(properties: Record<string, unknown>, key: string, fallback: number): number {
  const value = properties[key]
  if (value === undefined) return fallback
  const n = Number(value)
  if (!Number.isInteger(n) || n <= 0) throw new Error(`Unsupported ${key} value: ${String(value)}`)
  return n
}

/** `DecodedResults` of openvino-genai-node for one sequence. */
function decoded(text: string, finish: number, input: number, generated: number, ttft: number) {
  return {
    texts: [text],
    scores: [0],
    parsed: [],
    finishReasons: [finish],
    perfMetrics: {
      getNumInputTokens: () => input,
      getNumGeneratedTokens: () => generated,
      getTTFT: () => ({ mean: ttft, std: 0 }),
    },
  } as GenaiDecodedResults
}

/** One initialized pipeline: a tokenizer and an engine on the model's ONNX export. */
class FakeLlmPipeline implements GenaiLlmPipeline {
  readonly #engine: OnnxGenerationEngine
  readonly #assets: LanguageModelAssets
  readonly #npu: { maxPromptLen: number } | null
  readonly #record: FakeGenaiRecord
  readonly #hang: { after: number } | undefined
  #generations = 0

  constructor(
    engine: OnnxGenerationEngine,
    assets: LanguageModelAssets,
    npu: { maxPromptLen: number } | null,
    record: FakeGenaiRecord,
    hang: { after: number } | undefined,
  ) {
    this.#engine = engine
    this.#assets = assets
    this.#npu = npu
    this.#record = record
    this.#hang = hang
  }

  getTokenizer(): GenaiTokenizer {
    const assets = this.#assets
    const ids = (text: string, special: boolean) => assets.tokenizer.encode(text, special)
    return {
      applyChatTemplate: (history, addGenerationPrompt) => {
        if (!assets.chatTemplate) throw new Error('Chat template was not found')
        if (!addGenerationPrompt) throw new Error('the fake renders with add_generation_prompt only')
        const list = Array.isArray(history) ? history : history.getMessages()
        return assets.chatTemplate.render(
          list.map((m) => ({ role: String(m.role), content: String(m.content) })),
        )
      },
      encode: (prompt, options) => {
        const n = ids(prompt, options?.add_special_tokens ?? true).length
        return { input_ids: { getShape: () => [1, n] } }
      },
    }
  }

  /** The request as the engine takes it; on the NPU an overlong prompt keeps only its last tokens. */
  #request(inputs: string | GenaiChatHistory, config: GenerationConfig): GenerationInput {
    let input: GenerationInput
    if (typeof inputs === 'string') {
      input =
        config.apply_chat_template === false
          ? { kind: 'completion', prompt: inputs }
          : { kind: 'chat', messages: [{ role: 'user', content: inputs }] }
    } else {
      const messages: ChatMessage[] = inputs
        .getMessages()
        .map((m) => ({ role: String(m.role), content: String(m.content) }))
      input = { kind: 'chat', messages }
    }
    const limit = this.#npu?.maxPromptLen
    if (limit === undefined) return input
    const ids = encodePrompt(this.#assets, input)
    if (ids.length <= limit) return input
    this.#record.overlongPrompts++
    return { kind: 'completion', prompt: this.#assets.tokenizer.decode(ids.slice(ids.length - limit)) }
  }

  /** GenAI's GenerationConfig in the engine's parameters; max_new_tokens clipped to the room the cache has. */
  #parameters(input: GenerationInput, config: GenerationConfig): GenerationParameters {
    const room = this.#assets.contextLength - encodePrompt(this.#assets, input).length
    const wanted = Number(config.max_new_tokens ?? 256)
    const sampled = config.do_sample === true
    return {
      max_tokens: Math.max(1, Math.min(wanted, room)),
      ...(sampled
        ? {
            temperature: config.temperature ?? 1,
            top_p: config.top_p ?? 1,
            top_k: Number(config.top_k ?? 0),
            seed: Number(config.rng_seed ?? 42),
          }
        : {}),
      repetition_penalty: config.repetition_penalty ?? 1,
      ...(config.stop_strings ? { stop: [...config.stop_strings] } : {}),
    }
  }

  async generate(
    inputs: string | GenaiChatHistory,
    config: GenerationConfig = {},
    streamer?: GenaiStreamer,
  ): Promise<GenaiDecodedResults> {
    this.#generations++
    if (this.#hang && this.#generations > this.#hang.after) return new Promise<never>(() => {})
    const input = this.#request(inputs, config)
    const parameters = this.#parameters(input, config)
    const controller = new AbortController()
    const started = performance.now()
    let firstAt: number | null = null
    const result = await this.#engine.generate(input, parameters, {
      signal: controller.signal,
      onChunk: ({ text }) => {
        firstAt ??= performance.now()
        const status = streamer?.(text) ?? StreamingStatus.RUNNING
        if (status !== StreamingStatus.RUNNING) controller.abort()
      },
    })
    if (result.finish_reason === 'length' || result.finish_reason === 'stop') {
      const finish =
        result.finish_reason === 'length' ? GenerationFinishReason.LENGTH : GenerationFinishReason.STOP
      return decoded(result.text, finish, result.usage.prompt_tokens, result.usage.completion_tokens, ttft())
    }
    // Ended by the streamer (STOP or CANCEL): what was generated so far.
    return decoded(
      result.text,
      GenerationFinishReason.STOP,
      result.usage.prompt_tokens,
      result.usage.completion_tokens,
      ttft(),
    )
    function ttft(): number {
      return firstAt === null ? 0 : firstAt - started
    }
  }

  stream(inputs: string | GenaiChatHistory, generationConfig: GenerationConfig = {}) {
    const pieces: string[] = []
    let status: number = StreamingStatus.RUNNING
    let done: GenaiDecodedResults | null = null
    let failure: unknown = null
    let wake: (() => void) | null = null
    const notify = () => {
      wake?.()
      wake = null
    }
    this.generate(inputs, generationConfig, (piece) => {
      pieces.push(piece)
      notify()
      return status as 0
    }).then(
      (result) => {
        done = result
        notify()
      },
      (error: unknown) => {
        failure = error
        notify()
      },
    )
    const iterator = {
      async next(): Promise<{ value: string; done: boolean }> {
        for (;;) {
          const piece = pieces.shift()
          if (piece !== undefined) return { value: piece, done: false }
          if (failure !== null) throw failure
          if (done !== null) return { value: (done as GenaiDecodedResults).texts[0] ?? '', done: true }
          await new Promise<void>((resolve) => {
            wake = resolve
          })
        }
      },
      async return(): Promise<{ value: string; done: boolean }> {
        status = StreamingStatus.CANCEL
        return { done: true, value: '' }
      },
      [Symbol.asyncIterator]() {
        return iterator
      },
    }
    return iterator
  }
}

/** The fake runtime and what it recorded. */
export interface FakeOpenvinoGenai {
  runtime: GenaiRuntime
  record: FakeGenaiRecord
  /** Stops the engines of every pipeline it made (the real runtime frees a pipeline when it is collected). */
  close(): Promise<void>
}

/** Creates a fake OpenVINO GenAI runtime on `devices` whose answers come from the ONNX Runtime engine. */
export function createFakeOpenvinoGenai(options: FakeOpenvinoGenaiOptions): FakeOpenvinoGenai {
  const record: FakeGenaiRecord = { pipelines: [], overlongPrompts: 0 }
  const creations = new Map<string, number>()
  const engines: OnnxGenerationEngine[] = []
  const runtime: GenaiRuntime = {
    StreamingStatus: StreamingStatus as unknown as GenaiRuntime['StreamingStatus'],
    GenerationFinishReason: GenerationFinishReason as unknown as GenaiRuntime['GenerationFinishReason'],
    ChatHistory: FakeChatHistory,
    async LLMPipeline(modelPath: string, device: string, properties: LLMPipelineProperties = {}) {
      record.pipelines.push({ modelPath, device, properties: { ...properties } })
      const name = modelNameOf(modelPath)
      const faults = options.faults?.[name]
      const n = (creations.get(name) ?? 0) + 1
      creations.set(name, n)
      const fail = faults?.failCreations
      if (fail && n > fail.after && (fail.count === null || n <= fail.after + fail.count)) {
        throw new Error(
          `Exception from src/cpp/src/llm/pipeline.cpp: injected failure creating pipeline ${n} (test fault)`,
        )
      }
      if (!isDeviceListed(options.devices, device)) {
        throw new Error(`Device with "${device}" name is not registered in the OpenVINO Runtime`)
      }
      if (!existsSync(join(modelPath, GENAI_MODEL_FILE))) {
        throw new Error(
          `Exception from src/cpp/src/utils.cpp: ${join(modelPath, GENAI_MODEL_FILE)} does not exist`,
        )
      }
      const onnx = generationOnnxPath(join(modelPath, GENAI_MODEL_FILE))
      if (!onnx)
        throw new Error(
          `the fake needs the ONNX export beside ${GENAI_MODEL_FILE} in ${modelPath} to compute with`,
        )
      const npu = device.startsWith('NPU')
      let contextLength: number | null = null
      let npuLimits: { maxPromptLen: number } | null = null
      if (npu) {
        const maxPromptLen = positiveIntProperty(properties, 'MAX_PROMPT_LEN', NPU_DEFAULTS.MAX_PROMPT_LEN)
        const minResponseLen = positiveIntProperty(
          properties,
          'MIN_RESPONSE_LEN',
          NPU_DEFAULTS.MIN_RESPONSE_LEN,
        )
        const hint = properties.GENERATE_HINT
        if (hint !== undefined && !GENERATE_HINTS.includes(String(hint))) {
          throw new Error(`Unsupported GENERATE_HINT value: ${String(hint)}`)
        }
        contextLength = maxPromptLen + minResponseLen
        npuLimits = { maxPromptLen }
      }
      const cache = properties.CACHE_DIR
      if (typeof cache === 'string' && cache !== '') {
        mkdirSync(cache, { recursive: true })
        const key = createHash('sha256')
          .update(JSON.stringify([modelPath, device, properties]))
          .digest('hex')
        writeFileSync(join(cache, `${key.slice(0, 16)}.blob`), 'fake compiled pipeline')
      }
      const files = resolveGenerationFiles(onnx, modelPath, GenerationSectionSchema.parse({}))
      const assets = loadLanguageModelAssets(files, contextLength)
      const engine = await OnnxGenerationEngine.start({
        name: `fake-genai:${name}`,
        version: String(n),
        files,
        threads: 1,
        contextLength: assets.contextLength,
        maxSequences: 1,
        defaultMaxTokens: 256,
        prefillChunkTokens: 256,
        stepTimeoutMs: 600_000,
        loadTimeoutMs: 120_000,
        threadEntry: options.generationThreadEntry,
        faults: null satisfies GenerationFaults | null,
      })
      engines.push(engine)
      return new FakeLlmPipeline(engine, assets, npuLimits, record, faults?.hang)
    },
  }
  return {
    runtime,
    record,
    close: async () => {
      await Promise.all(engines.splice(0).map((engine) => engine.unload()))
    },
  }
}
