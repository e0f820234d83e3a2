import { Buckets } from './buckets.js'
import { type LatencySummary, LatencyWindow } from './latency-window.js'

/** A worker's text generation as the pool saw it (`getWorkers()`, `npu-pool status`, the metrics). */
export interface GenerationSummary {
  /** Generations (streamed or not) that finished on it. */
  completed: number
  /** Streams that failed on it after their first chunk. */
  interrupted: number
  /** Tokens it generated for this pool (the workers' own `usage.completion_tokens`). */
  tokens: number
  /** Time from sending a stream to its first chunk (ms), over the last 256 streams. */
  timeToFirstTokenMs: LatencySummary
  /** Tokens per second after the first chunk, per stream, over the last 256 streams. */
  tokensPerSecond: LatencySummary
}

const WINDOW = 256

/**
 * Time to first token and decode speed of the generations one worker answered. Written once per generation
 * (never per token): by the stream path, and by the pool for answers not streamed (their tokens, no rate).
 */
export class GenerationStats {
  #completed = 0
  #interrupted = 0
  #tokens = 0
  readonly #ttft = new LatencyWindow(WINDOW)
  readonly #rates = new LatencyWindow(WINDOW)
  /** Every stream's time to first token (seconds), for the metrics' histogram. */
  readonly timeToFirstToken = new Buckets()

  /** A stream's first chunk arrived `ms` after it was sent. */
  firstChunk(ms: number): void {
    this.#ttft.record(ms)
    this.timeToFirstToken.observe(ms / 1000)
  }

  /** A generation finished with `tokens` generated; `decodeMs` after its first chunk (null: not streamed). */
  completed(tokens: number, decodeMs: number | null): void {
    this.#completed++
    this.#tokens += tokens
    // One token is the first chunk itself: the rate is over the ones after it.
    if (decodeMs !== null && decodeMs > 0 && tokens > 1) this.#rates.record(((tokens - 1) * 1000) / decodeMs)
  }

  /** A stream failed after its first chunk. */
  interrupted(): void {
    this.#interrupted++
  }

  /** Generations finished (the metrics read these three without building a summary). */
  get completedCount(): number {
    return this.#completed
  }

  /** Streams interrupted after their first chunk. */
  get interruptedCount(): number {
    return this.#interrupted
  }

  /** Tokens generated. */
  get tokenCount(): number {
    return this.#tokens
  }

  /** A snapshot. */
  summary(): GenerationSummary {
    return {
      completed: this.#completed,
      interrupted: this.#interrupted,
      tokens: this.#tokens,
      timeToFirstTokenMs: this.#ttft.summary(),
      tokensPerSecond: this.#rates.summary(),
    }
  }
}
