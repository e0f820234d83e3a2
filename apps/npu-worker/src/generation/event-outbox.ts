import type { SequenceEvent } from './generation-thread-protocol.js'

/**
 * How long the generation thread lets events wait for the next steps' before it posts them, ms. A model whose
 * steps take longer than this (any real one) posts after every step, as before; a tiny one (a step in well under
 * a millisecond) posts a few steps' tokens together, so the engine's thread hop, the server's socket write and
 * the client's read are paid per message rather than per token. Below any visible streaming granularity (a
 * screen frame is 16.7 ms).
 */
export const STREAM_INTERVAL_MS = 4

/**
 * The generation thread's outgoing events, posted to the engine in batches. A batch goes out as soon as it
 * holds anything a caller waits on (a sequence ended or failed, or its first text: time to first token),
 * and otherwise once the next step would end past `intervalMs` since the last post (judged by the
 * step just run), so no text waits longer than about that. Posting at least that often, empty or not, keeps
 * the engine's step watchdog fed while prefill chunks produce no events.
 */
export class EventOutbox {
  readonly #post: (events: SequenceEvent[]) => void
  readonly #intervalMs: number
  readonly #now: () => number
  #held: SequenceEvent[] = []
  #lastPostAt: number
  /** Sequences whose first text has gone out; later text may wait, the first never does. */
  readonly #streaming = new Set<number>()

  constructor(
    post: (events: SequenceEvent[]) => void,
    intervalMs = STREAM_INTERVAL_MS,
    now = performance.now.bind(performance),
  ) {
    this.#post = post
    this.#intervalMs = intervalMs
    this.#now = now
    this.#lastPostAt = now()
  }

  /**
   * Takes the events of one model run that took `stepMs` (0 for the answers to requests); posts them now or
   * holds them for the next run's.
   */
  add(events: readonly SequenceEvent[], stepMs: number): void {
    const urgent = this.#hold(events)
    if (urgent || this.#now() - this.#lastPostAt + stepMs >= this.#intervalMs) this.flush()
  }

  /** True while events wait to be posted. */
  get holding(): boolean {
    return this.#held.length > 0
  }

  /** Posts whatever is held (also when nothing is: the engine counts every message as progress). */
  flush(): void {
    const events = this.#held
    this.#held = []
    this.#lastPostAt = this.#now()
    this.#post(events)
  }

  /** Holds `events`; true when one of them must go out now. */
  #hold(events: readonly SequenceEvent[]): boolean {
    let urgent = false
    for (const event of events) {
      this.#held.push(event)
      // A start needs no answer of its own: the engine reads its prompt size at the end.
      if (event.kind === 'started') continue
      if (event.kind === 'chunk') {
        if (this.#streaming.has(event.id)) continue
        this.#streaming.add(event.id)
      } else {
        this.#streaming.delete(event.id)
      }
      urgent = true
    }
    return urgent
  }
}
