import type { CacheArray } from './batched-kv-cache.js'
import type { ResolvedParameters } from './generation-parameters.js'
import type { SequenceEvent } from './generation-thread-protocol.js'
import type { StreamingDetokenizer } from './incremental-detokenizer.js'
import { StopStringMatcher } from './stop-string-matcher.js'
import type { FinishReason } from './text-generator.js'
import { TokenSampler } from './token-sampler.js'

/** Where a sequence is in its life inside the thread. */
export type SequencePhase =
  /** Its prompt is being fed, chunk by chunk, into its own cache (`prefilled` tokens so far). */
  | { kind: 'prefilling'; prefilled: number; cache: CacheArray[] | null }
  /** It is a row of the batch; `next` is the token the next decode step feeds. */
  | { kind: 'decoding'; next: number }
  /** It ended; the batcher removes it after the step. */
  | { kind: 'finished'; reason: FinishReason }

/** What a sequence needs from the model and the engine. */
export interface SequenceModel {
  /** A detokenizer for an answer that follows `promptIds` (TextTokenizer.createDetokenizer). */
  createDetokenizer: (promptIds: readonly number[]) => StreamingDetokenizer
  eosIds: ReadonlySet<number>
  contextLength: number
}

/**
 * One generation inside the thread: its prompt, the tokens generated so far, and the per-sequence parts of
 * decoding (its own sampler and seed, detokenizer and stop matcher), so a sequence generates the same
 * whatever else shares its batch.
 */
export class GenerationSequence {
  phase: SequencePhase = { kind: 'prefilling', prefilled: 0, cache: null }
  readonly generated: number[] = []
  readonly #seen: Set<number>
  readonly #sampler: TokenSampler
  readonly #detokenizer: StreamingDetokenizer
  readonly #stops: StopStringMatcher
  readonly #model: SequenceModel

  constructor(
    readonly id: number,
    readonly promptIds: readonly number[],
    /** Tokens to generate at most (already clipped to the context). */
    readonly maxTokens: number,
    parameters: ResolvedParameters,
    model: SequenceModel,
  ) {
    this.#model = model
    this.#seen = new Set(promptIds)
    this.#sampler = new TokenSampler({
      temperature: parameters.temperature,
      topP: parameters.topP,
      topK: parameters.topK,
      repetitionPenalty: parameters.repetitionPenalty,
      seed: parameters.seed ?? Math.floor(Math.random() * 2 ** 32),
    })
    this.#detokenizer = model.createDetokenizer(promptIds)
    this.#stops = new StopStringMatcher(parameters.stop)
  }

  /**
   * Samples the next token from `logits[offset ..]` and takes it: pushes the resulting events (text, and
   * `done` when the sequence ends by an end token, a stop string, max_tokens or the context length).
   */
  sample(logits: Float32Array, offset: number, vocab: number, events: SequenceEvent[]): void {
    const token = this.#sampler.next(logits, offset, vocab, this.#seen)
    this.generated.push(token)
    this.#seen.add(token)
    if (this.#model.eosIds.has(token)) {
      this.#finish('stop', events)
      return
    }
    const { text, stopped } = this.#stops.push(this.#detokenizer.push(token))
    if (text) events.push({ id: this.id, kind: 'chunk', text, generated: this.generated.length })
    if (stopped) {
      this.#finish('stop', events, false)
      return
    }
    // The next step would feed this token at position prompt + generated - 1; it must fit the context.
    if (
      this.generated.length >= this.maxTokens ||
      this.promptIds.length + this.generated.length >= this.#model.contextLength
    ) {
      this.#finish('length', events)
      return
    }
    this.phase = { kind: 'decoding', next: token }
  }

  /** Ends the sequence as cancelled (between steps), with the text that is final so far. */
  cancel(events: SequenceEvent[]): void {
    this.#finish('cancelled', events, false)
  }

  #finish(ending: FinishReason, events: SequenceEvent[], flush = true): void {
    let reason = ending
    if (flush) {
      // Held-back text (an incomplete character, a possible stop-string start) is final now.
      const { text, stopped } = this.#stops.push(this.#detokenizer.flush())
      const rest = stopped ? text : text + this.#stops.flush()
      if (stopped) reason = 'stop'
      if (rest) events.push({ id: this.id, kind: 'chunk', text: rest, generated: this.generated.length })
    }
    this.phase = { kind: 'finished', reason }
    events.push({
      id: this.id,
      kind: 'done',
      finishReason: reason,
      usage: { prompt_tokens: this.promptIds.length, completion_tokens: this.generated.length },
    })
  }
}
