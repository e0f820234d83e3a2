/** The data of one cache tensor: float32, or float16 as raw IEEE half bits. */
export type CacheArray = Float32Array | Uint16Array

/** Shape of a model's KV cache. */
export interface CacheShape {
  /** Cache tensors, in feed order (`past_key_values.0.key`, `.0.value`, `.1.key`, ...). */
  tensors: number
  kvHeads: number
  headDim: number
  /** Allocates a zeroed array of the cache's element type. */
  allocate(length: number): CacheArray
}

/** One sequence's rows in some cache tensor set: `tensors[i]` is [batch, kvHeads, length, headDim]. */
interface RowSource {
  tensors: readonly CacheArray[]
  /** Batch row of the sequence in `tensors`. */
  row: number
  /** Length (T) of `tensors`. */
  length: number
  /** Valid (non-padding) positions of the sequence: the last `valid` of T. */
  valid: number
}

/**
 * The KV cache of the sequences decoded together: one tensor per `past_key_values` input, [batch, kvHeads,
 * T, headDim], each sequence left-padded to the common length T (its positions are the last `valid` of T;
 * the attention mask hides the padding). Sequences join after their own prefill and leave between steps;
 * only then is the cache re-laid out. A decode step appends one position to every row, which is just the
 * model's `present` outputs taken as the new cache.
 */
export class BatchedKvCache {
  readonly #shape: CacheShape
  #ids: number[] = []
  #valid: number[] = []
  #length = 0
  #tensors: CacheArray[]

  constructor(shape: CacheShape) {
    this.#shape = shape
    this.#tensors = Array.from({ length: shape.tensors }, () => shape.allocate(0))
  }

  /** Sequence ids, in batch-row order. */
  get ids(): readonly number[] {
    return this.#ids
  }

  /** Common length T of every row (padding included). */
  get length(): number {
    return this.#length
  }

  /** The cache tensors, [batch, kvHeads, T, headDim] each. */
  get tensors(): readonly CacheArray[] {
    return this.#tensors
  }

  /** Valid positions of each row, in row order. */
  get validLengths(): readonly number[] {
    return this.#valid
  }

  /** Adds a prefilled sequence: `tensors` are its own cache, [1, kvHeads, length, headDim]. */
  join(id: number, tensors: readonly CacheArray[], length: number): void {
    const sources = this.#currentRows()
    sources.push({ tensors, row: 0, length, valid: length })
    this.#ids = [...this.#ids, id]
    this.#rebuild(sources, Math.max(this.#length, length))
  }

  /** Removes the sequences in `ids`; the cache shrinks to the longest remaining row. */
  leave(ids: ReadonlySet<number>): void {
    if (!this.#ids.some((id) => ids.has(id))) return
    const sources = this.#currentRows().filter((_, row) => !ids.has(this.#ids[row] as number))
    this.#ids = this.#ids.filter((id) => !ids.has(id))
    this.#rebuild(sources, Math.max(0, ...sources.map((s) => s.valid)))
  }

  /** Takes a decode step's `present` outputs ([batch, kvHeads, T + 1, headDim]) as the cache. */
  advance(presents: readonly CacheArray[]): void {
    const expected = this.#ids.length * this.#shape.kvHeads * (this.#length + 1) * this.#shape.headDim
    for (const present of presents) {
      if (present.length !== expected)
        throw new Error(`present has ${present.length} values, expected ${expected}`)
    }
    this.#tensors = [...presents]
    this.#length += 1
    this.#valid = this.#valid.map((v) => v + 1)
  }

  /** The attention mask of the next decode step, [batch, T + 1]: padding 0, the valid positions and the new token 1. */
  nextAttentionMask(): BigInt64Array {
    const width = this.#length + 1
    const mask = new BigInt64Array(this.#ids.length * width)
    this.#valid.forEach((valid, row) => {
      mask.fill(1n, row * width + (this.#length - valid), (row + 1) * width)
    })
    return mask
  }

  #currentRows(): RowSource[] {
    return this.#ids.map((_, row) => ({
      tensors: this.#tensors,
      row,
      length: this.#length,
      valid: this.#valid[row] as number,
    }))
  }

  /** Lays `sources` out as the batch rows, each right-aligned in a cache of length `length`. */
  #rebuild(sources: readonly RowSource[], length: number): void {
    const { kvHeads, headDim } = this.#shape
    const batch = sources.length
    this.#tensors = this.#tensors.map((_, t) => {
      const out = this.#shape.allocate(batch * kvHeads * length * headDim)
      sources.forEach((source, row) => {
        const from = source.tensors[t] as CacheArray
        for (let h = 0; h < kvHeads; h++) {
          const srcStart =
            ((source.row * kvHeads + h) * source.length + (source.length - source.valid)) * headDim
          const dstStart = ((row * kvHeads + h) * length + (length - source.valid)) * headDim
          out.set(from.subarray(srcStart, srcStart + source.valid * headDim), dstStart)
        }
      })
      return out
    })
    this.#length = length
    this.#valid = sources.map((s) => s.valid)
  }
}
