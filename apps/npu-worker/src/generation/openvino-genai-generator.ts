import { type InferencePrecision, precisionOfDevice } from '@npu-fleet/protocol'
import type { AbandonedCall, ModelCondition } from '../backends/backend.js'
import { withTimeLimit } from '../time-limit.js'
import { type ResolvedParameters, resolveParameters } from './generation-parameters.js'
import type { GenaiLlmPipeline, GenaiRuntime } from './openvino-genai-runtime.js'
import { StopStringMatcher } from './stop-string-matcher.js'
import {
  type FinishReason,
  type GenerateOptions,
  GenerationError,
  type GenerationInput,
  type GenerationParameters,
  type GenerationResult,
  type GeneratorLimits,
  type GeneratorLoad,
  type TextGenerator,
} from './text-generator.js'

/** Everything the GenAI generator needs to serve one language model on one device. */
export interface GenaiGeneratorSpec {
  name: string
  version: string
  /** The folder `LLMPipeline` reads: `openvino_model.xml/.bin` and the OpenVINO tokenizer and detokenizer IRs. */
  modelDir: string
  device: string
  /** Device and pipeline properties, as strings (NPU: `MAX_PROMPT_LEN`, `MIN_RESPONSE_LEN`, `GENERATE_HINT`, `CACHE_DIR`). */
  properties: Record<string, string>
  /** Tokens of one sequence; on the NPU `MAX_PROMPT_LEN + MIN_RESPONSE_LEN`, the size of its static KV cache. */
  contextLength: number
  /** Longest prompt (the NPU's `MAX_PROMPT_LEN`), or null. */
  maxPromptTokens: number | null
  defaultMaxTokens: number
  /** Hard limit between two signs of progress (the first token, then each next one), ms. */
  stepTimeoutMs: number
  /** Limit of creating (compiling) the pipeline, ms. */
  loadTimeoutMs: number
}

/** The pipeline, as one state. */
type PipelineState =
  | { kind: 'ready'; pipeline: GenaiLlmPipeline }
  /** Replacing a pipeline that stopped answering; `attempt` counts consecutive failures. */
  | { kind: 'starting'; attempt: number; reason: string }
  | { kind: 'backoff'; attempt: number; retryAt: number; reason: string; timer: NodeJS.Timeout }
  | { kind: 'closed' }

/** One `generate` call. */
interface Call {
  input: GenerationInput
  parameters: ResolvedParameters
  options: GenerateOptions
  resolve: (result: GenerationResult) => void
  reject: (error: Error) => void
  onAbort: () => void
  startedAt: number
  cancelled: boolean
}

const MAX_BACKOFF_MS = 30_000

/** Creates and initializes a pipeline within `spec.loadTimeoutMs`; rejects naming the model and device. */
async function createPipeline(runtime: GenaiRuntime, spec: GenaiGeneratorSpec): Promise<GenaiLlmPipeline> {
  return withTimeLimit(
    runtime.LLMPipeline(spec.modelDir, spec.device, spec.properties),
    spec.loadTimeoutMs,
    `OpenVINO GenAI loading ${spec.modelDir} on ${spec.device}`,
  )
}

/**
 * Text generation with OpenVINO GenAI's `LLMPipeline` (NPU, or CPU): one generation at a time per pipeline
 * (the NPU pipeline is a static, single-sequence one), further calls wait in arrival order. Native work runs on
 * GenAI's own threads; the streamer runs on the event loop. Prompts are counted with the pipeline's own
 * tokenizer first: one longer than `MAX_PROMPT_LEN` is refused (`prompt_too_long`), because the NPU pipeline
 * answers garbled text past it instead of failing. A generation that shows no progress within `stepTimeoutMs`
 * fails with `step_timeout`; its pipeline is abandoned (a native call cannot be interrupted) and a new one
 * compiled, with backoff while that fails.
 */
export class OpenvinoGenaiGenerator implements TextGenerator {
  readonly backend = 'openvino' as const
  readonly device: string
  readonly precision: InferencePrecision
  readonly limits: GeneratorLimits
  readonly #runtime: GenaiRuntime
  readonly #spec: GenaiGeneratorSpec
  #state: PipelineState
  readonly #waiting: Call[] = []
  #running: Call | null = null
  readonly #abandoned = new Map<object, AbandonedCall>()
  #pipelines = 0
  #conditionListener: ((condition: ModelCondition) => void) | null = null

  private constructor(runtime: GenaiRuntime, spec: GenaiGeneratorSpec, pipeline: GenaiLlmPipeline) {
    this.#runtime = runtime
    this.#spec = spec
    this.#state = { kind: 'ready', pipeline }
    this.device = spec.device
    this.precision = precisionOfDevice(spec.device)
    this.limits = {
      context_length: spec.contextLength,
      max_sequences: 1,
      default_max_tokens: Math.min(spec.defaultMaxTokens, spec.contextLength - 1),
      step_timeout_ms: spec.stepTimeoutMs,
      max_prompt_tokens: spec.maxPromptTokens,
    }
  }

  /** Creates the pipeline (reads and compiles the model folder); rejects with the reason it could not. */
  static async start(runtime: GenaiRuntime, spec: GenaiGeneratorSpec): Promise<OpenvinoGenaiGenerator> {
    return new OpenvinoGenaiGenerator(runtime, spec, await createPipeline(runtime, spec))
  }

  // async: an unloaded model or a bad parameter rejects like any other failure (the body up to the promise
  // below still runs synchronously, so a call is queued in the order it was made).
  async generate(
    input: GenerationInput,
    parameters: GenerationParameters,
    options: GenerateOptions = {},
  ): Promise<GenerationResult> {
    if (this.#state.kind === 'closed')
      throw new GenerationError('unavailable', `model ${this.#spec.name} is unloaded`)
    const resolved = resolveParameters(parameters)
    const startedAt = performance.now()
    if (options.signal?.aborted) return result('', 'cancelled', 0, 0, null, startedAt)
    return new Promise((resolve, reject) => {
      const call: Call = {
        input,
        parameters: resolved,
        options,
        resolve,
        reject,
        startedAt,
        cancelled: false,
        onAbort: () => this.#abort(call),
      }
      options.signal?.addEventListener('abort', call.onAbort, { once: true })
      this.#waiting.push(call)
      this.#dispatch()
    })
  }

  load(): GeneratorLoad {
    return { active: this.#running ? 1 : 0, waiting: this.#waiting.length }
  }

  condition(): ModelCondition {
    const state = this.#state
    switch (state.kind) {
      case 'ready':
        return { kind: 'serving' }
      case 'starting':
        return { kind: 'recovering', reason: state.reason, attempt: state.attempt, retryAt: Date.now() }
      case 'backoff':
        return { kind: 'recovering', reason: state.reason, attempt: state.attempt, retryAt: state.retryAt }
      case 'closed':
        return { kind: 'recovering', reason: 'unloaded', attempt: 0, retryAt: 0 }
    }
  }

  onConditionChange(listener: (condition: ModelCondition) => void): void {
    this.#conditionListener = listener
  }

  abandonedCalls(): readonly AbandonedCall[] {
    return [...this.#abandoned.values()]
  }

  async unload(): Promise<void> {
    const state = this.#state
    if (state.kind === 'closed') return
    this.#setState({ kind: 'closed' })
    if (state.kind === 'backoff') clearTimeout(state.timer)
    for (const call of this.#waiting.splice(0))
      this.#settle(call, result('', 'cancelled', 0, 0, null, call.startedAt))
    const running = this.#running
    if (!running) return
    // The streamer cancels it at the next token; a pipeline that never calls back again is waited for at most
    // one step limit (its call is settled then, and the pipeline left to the garbage collector).
    running.cancelled = true
    const deadline = Date.now() + this.#spec.stepTimeoutMs
    while (this.#running === running && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    if (this.#running === running) {
      this.#running = null
      this.#settle(running, result('', 'cancelled', 0, 0, null, running.startedAt))
    }
  }

  #abort(call: Call): void {
    const waiting = this.#waiting.indexOf(call)
    if (waiting >= 0) {
      this.#waiting.splice(waiting, 1)
      this.#settle(call, result('', 'cancelled', 0, 0, null, call.startedAt))
      return
    }
    // Running: the streamer answers CANCEL at the next token, and the generation resolves then.
    call.cancelled = true
  }

  #dispatch(): void {
    const state = this.#state
    if (state.kind !== 'ready' || this.#running || this.#waiting.length === 0) return
    const call = this.#waiting.shift() as Call
    this.#running = call
    void this.#run(call, state.pipeline)
  }

  /** Counts the prompt's tokens with the pipeline's tokenizer and checks them against the limits. */
  #budget(call: Call, pipeline: GenaiLlmPipeline): number {
    const { input } = call
    const field = input.kind === 'chat' ? 'messages' : 'prompt'
    const tokenizer = pipeline.getTokenizer()
    let promptTokens: number
    if (input.kind === 'chat') {
      let rendered: string
      try {
        rendered = tokenizer.applyChatTemplate(
          input.messages.map((m) => ({ role: m.role, content: m.content })),
          true,
        )
      } catch (error) {
        throw new GenerationError('template_failed', `messages: ${(error as Error).message}`, 'messages')
      }
      promptTokens = tokenizer.encode(rendered, { add_special_tokens: false }).input_ids.getShape()[1] ?? 0
    } else {
      promptTokens = tokenizer.encode(input.prompt).input_ids.getShape()[1] ?? 0
    }
    const { maxPromptTokens, contextLength, defaultMaxTokens } = this.#spec
    if (maxPromptTokens !== null && promptTokens > maxPromptTokens) {
      throw new GenerationError(
        'prompt_too_long',
        `${field}: the prompt has ${promptTokens} tokens; the ${this.device} pipeline takes at most ${maxPromptTokens} (MAX_PROMPT_LEN)`,
        field,
      )
    }
    const room = contextLength - promptTokens
    if (room < 1) {
      throw new GenerationError(
        'context_length_exceeded',
        `${field}: the prompt has ${promptTokens} tokens; the model's context length is ${contextLength}`,
        field,
      )
    }
    const requested = call.parameters.maxTokens
    if (requested === null) return Math.min(defaultMaxTokens, room)
    if (requested > room) {
      throw new GenerationError(
        'context_length_exceeded',
        `max_tokens: the prompt has ${promptTokens} tokens and the context length is ${contextLength}, so at most ${room} can be generated, not ${requested}`,
        'max_tokens',
      )
    }
    return requested
  }

  async #run(call: Call, pipeline: GenaiLlmPipeline): Promise<void> {
    let budget: number
    try {
      budget = this.#budget(call, pipeline)
    } catch (error) {
      this.#fail(call, error as Error)
      return
    }
    const { StreamingStatus, GenerationFinishReason, ChatHistory } = this.#runtime
    const { parameters, input } = call
    const matcher = new StopStringMatcher(parameters.stop)
    let emitted = ''
    let firstAt: number | null = null
    let stoppedHere = false
    let progress: () => void = () => {}
    // After a cancel nothing more is emitted: a cancelled call's text is what its caller received.
    const emit = (text: string) => {
      if (text.length === 0 || call.cancelled) return
      emitted += text
      firstAt ??= performance.now()
      call.options.onChunk?.({ text })
    }
    const streamer = (chunk: string) => {
      progress()
      if (call.cancelled || this.#state.kind === 'closed') return StreamingStatus.CANCEL
      if (stoppedHere) return StreamingStatus.STOP
      const match = matcher.push(chunk)
      emit(match.text)
      if (match.stopped) {
        stoppedHere = true
        return StreamingStatus.STOP
      }
      return StreamingStatus.RUNNING
    }
    const sampled = parameters.temperature > 0
    const config = {
      max_new_tokens: budget,
      do_sample: sampled,
      ...(sampled
        ? {
            temperature: parameters.temperature,
            top_p: parameters.topP,
            top_k: parameters.topK,
            rng_seed: parameters.seed ?? Math.floor(Math.random() * 2 ** 31),
          }
        : {}),
      repetition_penalty: parameters.repetitionPenalty,
      ...(parameters.stop.length > 0 ? { stop_strings: new Set(parameters.stop) } : {}),
      include_stop_str_in_output: false,
      // A completion prompt is the text itself: GenAI would otherwise wrap a string in the chat template.
      apply_chat_template: input.kind === 'chat',
    }
    const generation = pipeline.generate(
      input.kind === 'chat'
        ? new ChatHistory(input.messages.map((m) => ({ role: m.role, content: m.content })))
        : input.prompt,
      config,
      streamer,
    )
    // No sign of progress (the first token, then each next one) within the step limit: the pipeline is stuck.
    const stalled = new Promise<'stalled'>((resolve) => {
      let timer = setTimeout(() => resolve('stalled'), this.#spec.stepTimeoutMs)
      progress = () => {
        clearTimeout(timer)
        timer = setTimeout(() => resolve('stalled'), this.#spec.stepTimeoutMs)
      }
      void generation.then(
        () => clearTimeout(timer),
        () => clearTimeout(timer),
      )
    })
    let outcome: Awaited<typeof generation> | 'stalled'
    try {
      outcome = await Promise.race([generation, stalled])
    } catch (error) {
      this.#fail(
        call,
        new GenerationError('engine_failed', `OpenVINO GenAI failed: ${(error as Error).message}`),
      )
      return
    }
    if (outcome === 'stalled') {
      this.#stalled(call, pipeline, generation)
      return
    }
    // GenAI's own text decides what a stop string cut; what was streamed stays the prefix of the answer.
    const final = outcome.texts[0] ?? ''
    if (!stoppedHere && !call.cancelled) {
      emit(final.startsWith(emitted) ? final.slice(emitted.length) : matcher.flush())
    }
    const metrics = outcome.perfMetrics
    const reason: FinishReason = call.cancelled
      ? 'cancelled'
      : stoppedHere || outcome.finishReasons[0] !== GenerationFinishReason.LENGTH
        ? 'stop'
        : 'length'
    this.#settle(
      call,
      result(
        emitted,
        reason,
        metrics.getNumInputTokens(),
        metrics.getNumGeneratedTokens(),
        firstAt,
        call.startedAt,
      ),
    )
  }

  /** The pipeline stopped answering: fail the call, give the pipeline up, and build a new one. */
  #stalled(call: Call, pipeline: GenaiLlmPipeline, generation: Promise<unknown>): void {
    const { name, version, stepTimeoutMs } = this.#spec
    const reason = `a generation on OpenVINO GenAI/${this.device} showed no progress within ${stepTimeoutMs} ms; its pipeline was abandoned and is being replaced`
    this.#abandoned.set(pipeline, {
      model: name,
      version,
      thread: `genai:${name}:${version}#${this.#pipelines}`,
      since: Date.now(),
    })
    const forget = () => this.#abandoned.delete(pipeline)
    void generation.then(forget, forget)
    // Replacing first: the freed slot must not hand the next call to the abandoned pipeline.
    this.#replace(1, reason)
    this.#fail(call, new GenerationError('step_timeout', reason))
  }

  #replace(attempt: number, reason: string): void {
    if (this.#state.kind === 'closed') return
    this.#setState({ kind: 'starting', attempt, reason })
    void createPipeline(this.#runtime, this.#spec).then(
      (pipeline) => {
        if (this.#state.kind === 'closed') return
        this.#pipelines++
        this.#setState({ kind: 'ready', pipeline })
        this.#dispatch()
      },
      (error: Error) => {
        if (this.#state.kind === 'closed') return
        const why = `${reason}; the replacement failed: ${error.message}`
        const delay = Math.min(1000 * 2 ** (attempt - 1), MAX_BACKOFF_MS)
        const timer = setTimeout(() => this.#replace(attempt + 1, reason), delay)
        this.#setState({ kind: 'backoff', attempt, retryAt: Date.now() + delay, reason: why, timer })
        // Calls waiting now would wait for a pipeline that may never come back.
        for (const waiting of this.#waiting.splice(0))
          this.#fail(waiting, new GenerationError('engine_failed', why))
      },
    )
  }

  #setState(state: PipelineState): void {
    const before = JSON.stringify(this.condition())
    this.#state = state
    const after = this.condition()
    if (JSON.stringify(after) !== before) this.#conditionListener?.(after)
  }

  #settle(call: Call, outcome: GenerationResult): void {
    this.#release(call)
    call.resolve(outcome)
  }

  #fail(call: Call, error: Error): void {
    this.#release(call)
    call.reject(error)
  }

  /** The call is over: its slot is free before its caller hears of it, and the next call starts. */
  #release(call: Call): void {
    call.options.signal?.removeEventListener('abort', call.onAbort)
    if (this.#running !== call) return
    this.#running = null
    queueMicrotask(() => this.#dispatch())
  }
}

function result(
  text: string,
  finishReason: FinishReason,
  promptTokens: number,
  completionTokens: number,
  firstAt: number | null,
  startedAt: number,
): GenerationResult {
  return {
    text,
    finish_reason: finishReason,
    usage: { prompt_tokens: promptTokens, completion_tokens: completionTokens },
    timings: {
      first_token_ms: firstAt === null ? null : firstAt - startedAt,
      total_ms: performance.now() - startedAt,
    },
  }
}
