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

/** One sequence's rows in some cache tensor set: `tensors[i]` is [batch, kvHeads, positions, headDim]. */
interface RowSource {
  tensors: readonly CacheArray[]
  /** Batch row of the sequence in `tensors`. */
  row: number
  /** Positions per row of `tensors` (their time dimension). */
  positions: number
  /** Index after the sequence's last valid position. */
  end: number
  /** Valid (non-padding) positions of the sequence: the `valid` before `end`. */
  valid: number
}

/**
 * One sequence's cache with `added` ([1, kvHeads, addedLength, headDim] each) appended after its `pastLength`
 * positions: how a model that returns only the new positions grows a cache chunk by chunk in prefill.
 */
export function appendPositions(
  shape: CacheShape,
  past: readonly CacheArray[],
  pastLength: number,
  added: readonly CacheArray[],
  addedLength: number,
): CacheArray[] {
  const { kvHeads, headDim } = shape
  const length = pastLength + addedLength
  return added.map((positions, t) => {
    if (pastLength === 0) return positions
    const from = past[t] as CacheArray
    const out = shape.allocate(kvHeads * length * headDim)
    for (let h = 0; h < kvHeads; h++) {
      out.set(from.subarray(h * pastLength * headDim, (h + 1) * pastLength * headDim), h * length * headDim)
      out.set(
        positions.subarray(h * addedLength * headDim, (h + 1) * addedLength * headDim),
        (h * length + pastLength) * headDim,
      )
    }
    return out
  })
}

/**
 * The KV cache of the sequences decoded together: one tensor per `past_key_values` input, [batch, kvHeads,
 * capacity, headDim], each sequence left-padded so that every row's positions end at the common length T (its
 * positions are the `valid` before T; the attention mask hides the padding and, past T, the positions not
 * written yet). Sequences join after their own prefill and leave between steps; only then, and when T reaches
 * the capacity, is the cache re-laid out.
 *
 * Two ways a decode step extends it, one per cache layout of the model (decoder-layout.ts):
 * - `advance(presents)`: the model returned the whole new cache (`present.*`), taken as is; the capacity is
 *   then always T (`headroom` 0).
 * - `append(newPositions)`: the model returned only the fed positions (`new_key_values.*`), written in place
 *   at T; the capacity runs `headroom` positions ahead, so a step allocates nothing.
 */
export class BatchedKvCache {
  readonly #shape: CacheShape
  readonly #headroom: number
  #ids: number[] = []
  #valid: number[] = []
  #length = 0
  #capacity = 0
  #tensors: CacheArray[]
  #mask: BigInt64Array = new BigInt64Array(0)
  /** Per tensor, the buffer a re-layout writes into next (headroom > 0 only); see #target. */
  readonly #spare: Array<CacheArray | undefined> = []

  /** `headroom`: positions allocated past T at each re-layout (0 for a model that returns the whole cache). */
  constructor(shape: CacheShape, headroom = 0) {
    this.#shape = shape
    this.#headroom = headroom
    this.#tensors = Array.from({ length: shape.tensors }, () => shape.allocate(0))
  }

  /** Sequence ids, in batch-row order. */
  get ids(): readonly number[] {
    return this.#ids
  }

  /** Common length T of every row (padding included): where the next position goes. */
  get length(): number {
    return this.#length
  }

  /** Positions per row of the tensors (T, plus the headroom not written yet): the model's past length. */
  get capacity(): number {
    return this.#capacity
  }

  /** The cache tensors, [batch, kvHeads, capacity, headDim] each. */
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
    sources.push({ tensors, row: 0, positions: length, end: length, valid: length })
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
    if (this.#headroom !== 0) throw new Error('this cache takes new positions (append), not presents')
    const expected = this.#ids.length * this.#shape.kvHeads * (this.#length + 1) * this.#shape.headDim
    for (const present of presents) {
      if (present.length !== expected)
        throw new Error(`present has ${present.length} values, expected ${expected}`)
    }
    this.#tensors = [...presents]
    this.#length += 1
    this.#capacity = this.#length
    this.#valid = this.#valid.map((v) => v + 1)
    this.#mask = this.#buildMask()
  }

  /** Writes a decode step's new positions ([batch, kvHeads, 1, headDim] each) at T, in place. */
  append(newPositions: readonly CacheArray[]): void {
    if (this.#headroom === 0) throw new Error('this cache takes presents (advance), not new positions')
    const { kvHeads, headDim } = this.#shape
    const rows = this.#ids.length * kvHeads
    const expected = rows * headDim
    newPositions.forEach((positions, t) => {
      if (positions.length !== expected)
        throw new Error(`new positions have ${positions.length} values, expected ${expected}`)
      const tensor = this.#tensors[t] as CacheArray
      // Element by element: a subarray per row would be the step's only garbage.
      for (let r = 0; r < rows; r++) {
        const to = (r * this.#capacity + this.#length) * headDim
        const from = r * headDim
        for (let i = 0; i < headDim; i++) tensor[to + i] = positions[from + i] as number
      }
    })
    const width = this.#capacity + 1
    for (let row = 0; row < this.#ids.length; row++) {
      this.#mask[row * width + this.#length] = 1n
      this.#valid[row] = (this.#valid[row] as number) + 1
    }
    this.#length += 1
    // The next step writes at T: make room once the headroom is used up.
    if (this.#length === this.#capacity) this.#rebuild(this.#currentRows(), this.#length)
  }

  /**
   * The attention mask of the next decode step, [batch, capacity + 1]: padding and unwritten positions 0, the
   * valid positions and the new token (last) 1. Owned by the cache: valid until it next changes.
   */
  nextAttentionMask(): BigInt64Array {
    return this.#mask
  }

  #currentRows(): RowSource[] {
    return this.#ids.map((_, row) => ({
      tensors: this.#tensors,
      row,
      positions: this.#capacity,
      end: this.#length,
      valid: this.#valid[row] as number,
    }))
  }

  #buildMask(): BigInt64Array {
    const width = this.#capacity + 1
    const mask = new BigInt64Array(this.#ids.length * width)
    this.#valid.forEach((valid, row) => {
      mask.fill(1n, row * width + (this.#length - valid), row * width + this.#length)
      mask[row * width + this.#capacity] = 1n
    })
    return mask
  }

  /** Lays `sources` out as the batch rows, each ending at `length`, in tensors of `length` + headroom positions. */
  #rebuild(sources: readonly RowSource[], length: number): void {
    const { kvHeads, headDim } = this.#shape
    const batch = sources.length
    const capacity = batch === 0 ? 0 : length + this.#headroom
    const size = batch * kvHeads * capacity * headDim
    this.#tensors = this.#tensors.map((_, t) => {
      const out = this.#target(t, size)
      sources.forEach((source, row) => {
        const from = source.tensors[t] as CacheArray
        for (let h = 0; h < kvHeads; h++) {
          const srcStart =
            ((source.row * kvHeads + h) * source.positions + (source.end - source.valid)) * headDim
          const dstStart = ((row * kvHeads + h) * capacity + (length - source.valid)) * headDim
          out.set(from.subarray(srcStart, srcStart + source.valid * headDim), dstStart)
        }
      })
      return out
    })
    this.#length = length
    this.#capacity = capacity
    this.#valid = sources.map((s) => s.valid)
    this.#mask = this.#buildMask()
  }

  /**
   * A zeroed array of `size` values for tensor `t` of a re-layout. A cache written in place (headroom > 0)
   * alternates between two buffers per tensor, each kept at its largest size, so joins, leaves and growth
   * allocate only while the batch grows past what it held before (no garbage for the collector at every
   * join); a cache taken from `present` outputs is ONNX Runtime's fresh copies anyway.
   */
  #target(t: number, size: number): CacheArray {
    if (this.#headroom === 0) return this.#shape.allocate(size)
    let spare = this.#spare[t]
    if (!spare || spare.length < size) spare = this.#shape.allocate(Math.ceil(size * 1.5))
    // The buffer under the current tensor becomes the spare for the next re-layout.
    const current = this.#tensors[t] as CacheArray
    this.#spare[t] = current.buffer.byteLength === 0 ? undefined : whole(current)
    const out = spare.subarray(0, size)
    out.fill(0)
    return out
  }
}

/** The whole typed array a (sub)array views, from its buffer's start. */
function whole(view: CacheArray): CacheArray {
  return view instanceof Float32Array ? new Float32Array(view.buffer) : new Uint16Array(view.buffer)
}
