import type { AbandonedCall, BackendProbe, ModelCondition } from '../../src/backends/backend.js'
import type { GenerationBackend, GeneratorLoadSpec } from '../../src/generation/generation-backend.js'
import {
  type GenerateOptions,
  GenerationError,
  type GenerationInput,
  type GenerationParameters,
  type GenerationResult,
  type GeneratorLimits,
  type TextGenerator,
} from '../../src/generation/text-generator.js'

/**
 * A TextGenerator for logic tests (registry, states, scheduler): it "generates" the input text's characters
 * reversed (so the answer depends on the input, and a reference from one instance compared with another is a
 * real comparison), one character per step of `stepMs`, in at most `slots` sequences; later calls wait. The
 * test sets its condition and can make it fail.
 */
export class ScriptedGenerator implements TextGenerator {
  readonly limits: GeneratorLimits
  /** Rewrites every answer: a drifting device (null: answers as it should). */
  garble: ((answer: string) => string) | null = null
  /** Rejects every call with this error when set. */
  failWith: GenerationError | null = null
  calls = 0
  unloaded = false
  #active = 0
  readonly #waiting: (() => void)[] = []
  #condition: ModelCondition = { kind: 'serving' }
  #listener: ((condition: ModelCondition) => void) | null = null

  constructor(
    readonly backend: TextGenerator['backend'],
    readonly device: string,
    readonly precision: TextGenerator['precision'] = 'FP32',
    readonly slots = 2,
    readonly stepMs = 1,
  ) {
    this.limits = {
      context_length: 64,
      max_sequences: slots,
      default_max_tokens: 8,
      step_timeout_ms: 1000,
      max_prompt_tokens: null,
    }
  }

  async generate(input: GenerationInput, parameters: GenerationParameters, options: GenerateOptions = {}) {
    this.calls++
    if (this.unloaded) throw new GenerationError('unavailable', 'unloaded')
    if (this.failWith) throw this.failWith
    const source = input.kind === 'completion' ? input.prompt : input.messages.map((m) => m.content).join(' ')
    const reversed = [...source].reverse().join('')
    const answer = this.garble ? this.garble(reversed) : reversed
    const max = parameters.max_tokens ?? this.limits.default_max_tokens
    if (this.#active >= this.slots) await new Promise<void>((resolve) => this.#waiting.push(resolve))
    this.#active++
    const started = performance.now()
    let text = ''
    let finish: GenerationResult['finish_reason'] = 'stop'
    try {
      for (const ch of answer) {
        if (options.signal?.aborted) {
          finish = 'cancelled'
          break
        }
        if (text.length >= max) {
          finish = 'length'
          break
        }
        await new Promise((resolve) => setTimeout(resolve, this.stepMs))
        text += ch
        options.onChunk?.({ text: ch })
      }
    } finally {
      this.#active--
      this.#waiting.shift()?.()
    }
    return {
      text,
      finish_reason: finish,
      usage: { prompt_tokens: source.length, completion_tokens: text.length },
      timings: { first_token_ms: null, total_ms: performance.now() - started },
    }
  }

  load() {
    return { active: this.#active, waiting: this.#waiting.length }
  }
  condition(): ModelCondition {
    return this.#condition
  }
  onConditionChange(listener: (condition: ModelCondition) => void): void {
    this.#listener = listener
  }
  /** Moves the condition, as the generator's own recovery would. */
  setCondition(condition: ModelCondition): void {
    this.#condition = condition
    this.#listener?.(condition)
  }
  abandonedCalls(): readonly AbandonedCall[] {
    return []
  }
  async unload(): Promise<void> {
    this.unloaded = true
  }
}

/** A generation backend that loads ScriptedGenerators, or fails with `failures[device]`. */
export class ScriptedGenerationBackend implements GenerationBackend {
  readonly loaded: ScriptedGenerator[] = []
  /** Load failures by device. */
  failures: Record<string, string> = {}
  /** How the generators it loads rewrite their answers, by device (a drifting device). */
  garble: Record<string, (answer: string) => string> = {}
  precision: Record<string, TextGenerator['precision']> = {}

  constructor(
    readonly name: 'openvino' | 'onnxruntime',
    readonly runtime: GenerationBackend['runtime'],
    public probeResult: BackendProbe,
    readonly cannot: (spec: GeneratorLoadSpec) => string | null = () => null,
  ) {}

  async probe(): Promise<BackendProbe> {
    return this.probeResult
  }
  cannotLoad(spec: GeneratorLoadSpec): string | null {
    return this.cannot(spec)
  }
  async load(spec: GeneratorLoadSpec): Promise<TextGenerator> {
    const failure = this.failures[spec.device]
    if (failure) throw new Error(failure)
    const generator = new ScriptedGenerator(
      this.name,
      spec.device,
      this.precision[spec.device] ?? 'FP32',
      spec.section.max_sequences,
    )
    generator.garble = this.garble[spec.device] ?? null
    this.loaded.push(generator)
    return generator
  }
  abandonedCalls(): readonly AbandonedCall[] {
    return []
  }
  async close(): Promise<void> {}
}
