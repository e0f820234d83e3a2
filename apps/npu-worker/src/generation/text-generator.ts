import type { BackendName, InferencePrecision } from '@npu-fleet/protocol'
import type { AbandonedCall, ModelCondition } from '../backends/backend.js'

/** One chat message, as OpenAI's chat API and Hugging Face chat templates take it. */
export interface ChatMessage {
  role: string
  content: string
}

/** What to generate from: a conversation (rendered with the model's chat template) or raw prompt text. */
export type GenerationInput =
  /** Chat: the model's chat template turns the messages into the prompt, with the generation prompt added. */
  | { kind: 'chat'; messages: readonly ChatMessage[] }
  /** Completion: the text is the prompt, tokenized as is (the tokenizer's own special tokens added). */
  | { kind: 'completion'; prompt: string }

/**
 * Generation parameters, named as OpenAI's API names them; every one optional. Unset sampling parameters
 * mean greedy decoding (`temperature` 0). OpenVINO GenAI's `GenerationConfig` has a field for each.
 */
export interface GenerationParameters {
  /** Tokens to generate at most; default: the model's `generation.max_new_tokens`. */
  max_tokens?: number
  /** 0 = greedy (argmax); above 0 samples from softmax(logits / temperature). At most 2. */
  temperature?: number
  /** Nucleus sampling: keep the smallest set of tokens whose probability sums to at least top_p. In (0, 1]. */
  top_p?: number
  /** Keep the k most probable tokens; 0 = all. */
  top_k?: number
  /** Seed of the sampler: the same seed, prompt and parameters give the same text. */
  seed?: number
  /** Hugging Face's repetition penalty over prompt and answer tokens; 1 = none. In (0, 2]. */
  repetition_penalty?: number
  /** Up to 4 strings that end generation; the text is cut before the first match (never included). */
  stop?: readonly string[]
}

/** A piece of generated text, in order; the pieces of one generation concatenate to its `text`. */
export interface GenerationChunk {
  text: string
}

/** Why a generation ended. */
export type FinishReason =
  /** An end-of-sequence token or a stop string. */
  | 'stop'
  /** `max_tokens`, or the model's context length. */
  | 'length'
  /** The caller's signal aborted it (a client gone, a deadline): `text` is what was generated until then. */
  | 'cancelled'

/** Token counts of one generation, as OpenAI's `usage` reports them. */
export interface GenerationUsage {
  prompt_tokens: number
  completion_tokens: number
}

/** The outcome of one generation. */
export interface GenerationResult {
  /** The whole generated text (stop strings and end tokens excluded). */
  text: string
  finish_reason: FinishReason
  usage: GenerationUsage
  /** Milliseconds from the call to the first generated token (null when none was), and to the end. */
  timings: { first_token_ms: number | null; total_ms: number }
}

/** Options of one `generate` call. */
export interface GenerateOptions {
  /** Aborting it ends the generation at the next step; the result then has `finish_reason: 'cancelled'`. */
  signal?: AbortSignal
  /** Called with each piece of text as soon as it is final (never half a character, never part of a stop string). */
  onChunk?: (chunk: GenerationChunk) => void
}

/** The limits of a loaded generator, for admission control and `/health`. */
export interface GeneratorLimits {
  /** Tokens one sequence may hold, prompt and answer together. */
  context_length: number
  /** Sequences generated at once; further calls wait for a slot. */
  max_sequences: number
  /** Answer length when a call sets no `max_tokens`. */
  default_max_tokens: number
  /** Longest prompt, in tokens (the NPU pipeline's `MAX_PROMPT_LEN`); null when only the context limits it. */
  max_prompt_tokens: number | null
  /** Hard limit of one step (a prefill chunk or a decode step), ms: past it the step is abandoned. */
  step_timeout_ms: number
}

/** How busy a generator is now. */
export interface GeneratorLoad {
  /** Sequences being generated. */
  active: number
  /** Calls waiting for a sequence slot. */
  waiting: number
}

/** Error codes of a failed generation; callers match on `code`. */
export type GenerationErrorCode =
  /** A parameter is out of range or of the wrong type (`field` names it). */
  | 'invalid_parameter'
  /** The prompt, with `max_tokens`, does not fit the context length. */
  | 'context_length_exceeded'
  /** The prompt is longer than `limits.max_prompt_tokens` (`field`: `messages` or `prompt`). */
  | 'prompt_too_long'
  /** The chat template refused the messages (a template's own `raise_exception`, a missing role). */
  | 'template_failed'
  /** A step did not return within the step time limit; the engine replaced its thread. */
  | 'step_timeout'
  /** The engine failed (its thread died, the runtime raised an error). */
  | 'engine_failed'
  /** The generator is unloading or unloaded. */
  | 'unavailable'

/** A generation that failed; `field` names the offending parameter for `invalid_parameter`. */
export class GenerationError extends Error {
  override name = 'GenerationError'
  constructor(
    readonly code: GenerationErrorCode,
    message: string,
    readonly field: string | null = null,
  ) {
    super(message)
  }
}

/**
 * A loaded language model that generates text. Implemented by the ONNX Runtime engine (onnx-generation-engine.ts)
 * and, on NPU hosts, by an OpenVINO GenAI `LLMPipeline` backend. Carries what every loaded model reports
 * (backend, device, precision, a live condition) plus its limits.
 */
export interface TextGenerator {
  readonly backend: BackendName
  readonly device: string
  readonly precision: InferencePrecision
  readonly limits: GeneratorLimits
  /**
   * Generates from `input`. Resolves when the generation ends (`stop`, `length`, or `cancelled` when the signal
   * aborted it); rejects with a {@link GenerationError}. Chunks given to `onChunk` concatenate to `text`.
   */
  generate(
    input: GenerationInput,
    parameters: GenerationParameters,
    options?: GenerateOptions,
  ): Promise<GenerationResult>
  /** Sequences active and waiting now; cheap. */
  load(): GeneratorLoad
  /** What can serve right now. Read on every `/health`, so it must be cheap. */
  condition(): ModelCondition
  /** Sets the one listener told of every change of `condition()`. */
  onConditionChange(listener: (condition: ModelCondition) => void): void
  /** Stops accepting calls, cancels those in progress, releases the runtime; resolves within a bounded time. */
  unload(): Promise<void>
  /**
   * Native work given up on after its hard limit that is still running (a thread inside a model run, a pipeline
   * that never answered), unloaded generators' included. The process cannot exit in order while any runs.
   */
  abandonedCalls(): readonly AbandonedCall[]
}
