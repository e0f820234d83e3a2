import { appendPositions, BatchedKvCache, type CacheArray, type CacheShape } from './batched-kv-cache.js'
import type { CacheOutputKind } from './decoder-layout.js'
import type { GenerationSequence } from './generation-sequence.js'
import type { SequenceEvent } from './generation-thread-protocol.js'

/** One model run: `batch` rows of `sequence` new tokens on top of a cache of `pastLength` positions. */
export interface DecoderFeeds {
  batch: number
  sequence: number
  /** [batch, sequence] */
  inputIds: BigInt64Array
  /** [batch, sequence], each token's own position. */
  positionIds: BigInt64Array
  /** [batch, pastLength + sequence]: 1 for real positions, 0 for padding (and positions not written yet). */
  attentionMask: BigInt64Array
  /** The cache, [batch, kvHeads, pastLength, headDim] per tensor. */
  past: readonly CacheArray[]
  pastLength: number
}

/** What a model run returns. */
export interface DecoderOutput {
  /** [batch, sequence, vocab], as float32. */
  logits: Float32Array
  vocab: number
  /**
   * Per cache tensor, as the runner's `cacheOutput` says: `present`, the new cache [batch, kvHeads,
   * pastLength + sequence, headDim]; `new-positions`, the fed positions only [batch, kvHeads, sequence, headDim].
   */
  cache: CacheArray[]
}

/** Runs the decoder once (onnx-decoder-runner.ts: an ONNX Runtime session). */
export interface DecoderRunner {
  readonly cacheShape: CacheShape
  readonly cacheOutput: CacheOutputKind
  run(feeds: DecoderFeeds): Promise<DecoderOutput>
}

/**
 * Positions the batch cache allocates ahead of its length when the model returns only new positions: a
 * re-layout (a copy of the whole cache) every this many steps instead of every step, for attention over at
 * most this many masked positions more.
 */
export const CACHE_HEADROOM = 32

/**
 * Continuous batching: the sequences being decoded run as one batched decode step (left-padded cache,
 * per-row attention mask and positions); a new sequence is prefilled alone, in chunks, and joins the batch
 * between steps; a finished or cancelled one leaves between steps. Each `step()` is one model run, and
 * prefill chunks alternate with decode steps, so a long prompt never stalls the streams already running.
 */
export class ContinuousBatcher {
  readonly #runner: DecoderRunner
  readonly #prefillChunk: number
  readonly #cache: BatchedKvCache
  /** Sequences waiting for or in prefill, in arrival order. */
  readonly #prefilling: GenerationSequence[] = []
  /** Sequences in the batch, by id. */
  readonly #decoding = new Map<number, GenerationSequence>()
  #prefillNext = true

  constructor(runner: DecoderRunner, prefillChunkTokens: number) {
    this.#runner = runner
    this.#prefillChunk = prefillChunkTokens
    this.#cache = new BatchedKvCache(
      runner.cacheShape,
      runner.cacheOutput === 'new-positions' ? CACHE_HEADROOM : 0,
    )
  }

  /** Sequences in prefill or in the batch. */
  get size(): number {
    return this.#prefilling.length + this.#decoding.size
  }

  /** Queues a sequence for prefill. */
  add(sequence: GenerationSequence): void {
    this.#prefilling.push(sequence)
  }

  /** Ends sequence `id` as cancelled, between steps; false when it is not here. */
  cancel(id: number, events: SequenceEvent[]): boolean {
    const waiting = this.#prefilling.findIndex((s) => s.id === id)
    if (waiting >= 0) {
      ;(this.#prefilling.splice(waiting, 1)[0] as GenerationSequence).cancel(events)
      return true
    }
    const decoding = this.#decoding.get(id)
    if (!decoding) return false
    decoding.cancel(events)
    this.#decoding.delete(id)
    this.#cache.leave(new Set([id]))
    return true
  }

  /** Runs the model once (a prefill chunk or a batched decode step); the events of what happened. */
  async step(): Promise<SequenceEvent[]> {
    const events: SequenceEvent[] = []
    const prefill = this.#prefilling.length > 0 && (this.#prefillNext || this.#decoding.size === 0)
    this.#prefillNext = !prefill
    try {
      if (prefill) await this.#prefillStep(events)
      else if (this.#decoding.size > 0) await this.#decodeStep(events)
    } catch (error) {
      this.#failAll(prefill, (error as Error).message, events)
    }
    return events
  }

  /** Feeds the next chunk of the first waiting prompt; on its last chunk, samples its first token. */
  async #prefillStep(events: SequenceEvent[]): Promise<void> {
    const sequence = this.#prefilling[0] as GenerationSequence
    const phase = sequence.phase
    if (phase.kind !== 'prefilling')
      throw new Error(`sequence ${sequence.id} is ${phase.kind}, not prefilling`)
    const start = phase.prefilled
    const chunk = sequence.promptIds.slice(start, start + this.#prefillChunk)
    const shape = this.#runner.cacheShape
    const past = phase.cache ?? Array.from({ length: shape.tensors }, () => shape.allocate(0))
    const output = await this.#runner.run({
      batch: 1,
      sequence: chunk.length,
      inputIds: BigInt64Array.from(chunk, BigInt),
      positionIds: BigInt64Array.from(chunk, (_, i) => BigInt(start + i)),
      attentionMask: new BigInt64Array(start + chunk.length).fill(1n),
      past,
      pastLength: start,
    })
    const prefilled = start + chunk.length
    const cache =
      this.#runner.cacheOutput === 'present'
        ? output.cache
        : appendPositions(shape, past, start, output.cache, chunk.length)
    if (prefilled < sequence.promptIds.length) {
      sequence.phase = { kind: 'prefilling', prefilled, cache }
      return
    }
    this.#prefilling.shift()
    sequence.sample(output.logits, (chunk.length - 1) * output.vocab, output.vocab, events)
    if (sequence.phase.kind === 'decoding') {
      this.#decoding.set(sequence.id, sequence)
      this.#cache.join(sequence.id, cache, prefilled)
    }
  }

  /** One token for every sequence in the batch. */
  async #decodeStep(events: SequenceEvent[]): Promise<void> {
    const ids = this.#cache.ids
    const rows = ids.map((id) => this.#decoding.get(id) as GenerationSequence)
    const output = await this.#runner.run({
      batch: rows.length,
      sequence: 1,
      inputIds: BigInt64Array.from(rows, (s) => BigInt(s.phase.kind === 'decoding' ? s.phase.next : 0)),
      // A row's new token sits right after its own valid positions, whatever the padding.
      positionIds: BigInt64Array.from(this.#cache.validLengths, BigInt),
      attentionMask: this.#cache.nextAttentionMask(),
      past: this.#cache.tensors,
      pastLength: this.#cache.capacity,
    })
    if (this.#runner.cacheOutput === 'present') this.#cache.advance(output.cache)
    else this.#cache.append(output.cache)
    const finished = new Set<number>()
    rows.forEach((sequence, row) => {
      sequence.sample(output.logits, row * output.vocab, output.vocab, events)
      if (sequence.phase.kind === 'finished') finished.add(sequence.id)
    })
    for (const id of finished) this.#decoding.delete(id)
    this.#cache.leave(finished)
  }

  /** A run failed: the sequences it ran for end with an error (the others go on). */
  #failAll(prefill: boolean, message: string, events: SequenceEvent[]): void {
    const failed = prefill ? [this.#prefilling.shift() as GenerationSequence] : [...this.#decoding.values()]
    for (const sequence of failed) {
      sequence.phase = { kind: 'finished', reason: 'stop' }
      events.push({
        id: sequence.id,
        kind: 'error',
        code: 'engine_failed',
        message: `the model run failed: ${message}`,
        field: null,
      })
    }
    if (!prefill) {
      this.#cache.leave(new Set(this.#decoding.keys()))
      this.#decoding.clear()
    }
  }
}
