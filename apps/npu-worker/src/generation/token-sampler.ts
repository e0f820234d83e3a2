import { mulberry32 } from '../models/seeded-random.js'

/** What the sampler needs of a call's parameters. */
export interface SamplingSettings {
  /** 0 = greedy (argmax). */
  temperature: number
  topP: number
  /** 0 = off. */
  topK: number
  repetitionPenalty: number
  /** The sampler's seed; every call with the same seed draws the same numbers. */
  seed: number
}

/** A candidate token and its (unnormalised) probability. */
interface Candidate {
  id: number
  p: number
}

/**
 * Picks the next token of one sequence from its logits, in Hugging Face's order: repetition penalty, then
 * temperature, top-k, top-p, then a draw from the sequence's own seeded generator (greedy when the
 * temperature is 0). Built per sequence: the generator's state is what makes a seeded run reproducible,
 * whatever else shares the batch.
 */
export class TokenSampler {
  readonly #settings: SamplingSettings
  readonly #random: () => number
  #scratch = new Float32Array(0)
  #weightBuffer = new Float64Array(0)

  constructor(settings: SamplingSettings) {
    this.#settings = settings
    this.#random = mulberry32(settings.seed)
  }

  /**
   * The next token from `logits[offset .. offset + vocab)`. `seen` holds every token of the prompt and the
   * answer so far (the tokens the repetition penalty applies to). The logits are not modified.
   */
  next(logits: Float32Array, offset: number, vocab: number, seen: ReadonlySet<number>): number {
    const { temperature, topK, topP, repetitionPenalty } = this.#settings
    const scores = this.#scores(logits.subarray(offset, offset + vocab), seen, repetitionPenalty)
    if (temperature === 0) return argmax(scores)
    let max = Number.NEGATIVE_INFINITY
    for (let id = 0; id < vocab; id++) if ((scores[id] as number) > max) max = scores[id] as number
    // Weights exp((score - max) / T). Tokens more than CUTOFF below the best weigh under e^-40 each: even a
    // vocabulary of a million of them changes no probability by more than float32 logits can express.
    const floorScore = max - CUTOFF * temperature
    const weights = this.#weights(vocab)
    let sum = 0
    for (let id = 0; id < vocab; id++) {
      const score = scores[id] as number
      const w = score < floorScore ? 0 : Math.exp((score - max) / temperature)
      weights[id] = w
      sum += w
    }
    let candidates: Candidate[]
    // The mass top_p is a share of: all tokens, or (after top-k, as Hugging Face renormalises) the k kept.
    let mass: number
    if (topK > 0 && topK < vocab) {
      candidates = topKCandidates(weights, vocab, topK)
      mass = candidates.reduce((total, c) => total + c.p, 0)
    } else {
      if (topP === 1) return drawIndex(weights, vocab, sum, this.#random())
      // Nucleus shortcut, exact: tokens below (1 - top_p) / vocab of the mass together hold at most
      // 1 - top_p, so the nucleus lies among the others and only those need sorting.
      const floor = ((1 - topP) * sum) / vocab
      candidates = []
      for (let id = 0; id < vocab; id++) {
        const p = weights[id] as number
        if (p > floor) candidates.push({ id, p })
      }
      if (candidates.length === 0) return argmax(scores)
      mass = sum
    }
    if (topP < 1) candidates = nucleus(candidates, topP * mass)
    return draw(candidates, this.#random())
  }

  /** The row's logits with the repetition penalty applied, in a scratch buffer reused across calls. */
  #scores(row: Float32Array, seen: ReadonlySet<number>, penalty: number): Float32Array {
    if (penalty === 1) return row
    if (this.#scratch.length < row.length) this.#scratch = new Float32Array(row.length)
    const scores = this.#scratch.subarray(0, row.length)
    scores.set(row)
    for (const id of seen) {
      if (id < 0 || id >= row.length) continue
      const value = scores[id] as number
      // Hugging Face's RepetitionPenaltyLogitsProcessor: push seen tokens towards lower scores either side of 0.
      scores[id] = value < 0 ? value * penalty : value / penalty
    }
    return scores
  }

  #weights(vocab: number): Float64Array {
    if (this.#weightBuffer.length < vocab) this.#weightBuffer = new Float64Array(vocab)
    return this.#weightBuffer
  }
}

/** How far below the best score (in units of the temperature) a token still gets a weight. */
const CUTOFF = 40

/** Highest-scoring id; ties go to the lowest id (as torch.argmax). */
function argmax(scores: Float32Array): number {
  let best = 0
  let bestScore = scores[0] as number
  for (let id = 1; id < scores.length; id++) {
    const score = scores[id] as number
    if (score > bestScore) {
      best = id
      bestScore = score
    }
  }
  return best
}

/** The k most probable candidates (a bounded min-heap: O(vocab log k)), most probable first. */
function topKCandidates(weights: Float64Array, vocab: number, k: number): Candidate[] {
  const heap: Candidate[] = []
  const less = (a: Candidate, b: Candidate) => a.p < b.p || (a.p === b.p && a.id > b.id)
  const siftDown = (i: number) => {
    for (;;) {
      const l = 2 * i + 1
      const r = l + 1
      let m = i
      if (l < heap.length && less(heap[l] as Candidate, heap[m] as Candidate)) m = l
      if (r < heap.length && less(heap[r] as Candidate, heap[m] as Candidate)) m = r
      if (m === i) return
      ;[heap[i], heap[m]] = [heap[m] as Candidate, heap[i] as Candidate]
      i = m
    }
  }
  for (let id = 0; id < vocab; id++) {
    const p = weights[id] as number
    if (heap.length === k && p <= (heap[0] as Candidate).p) continue
    const candidate = { id, p }
    if (heap.length < k) {
      heap.push(candidate)
      for (let i = heap.length - 1; i > 0; ) {
        const parent = (i - 1) >> 1
        if (!less(heap[i] as Candidate, heap[parent] as Candidate)) break
        ;[heap[i], heap[parent]] = [heap[parent] as Candidate, heap[i] as Candidate]
        i = parent
      }
    } else if (less(heap[0] as Candidate, candidate)) {
      heap[0] = candidate
      siftDown(0)
    }
  }
  return sortByProbability(heap)
}

function sortByProbability(candidates: Candidate[]): Candidate[] {
  return candidates.sort((a, b) => b.p - a.p || a.id - b.id)
}

/** The smallest most-probable prefix whose probability reaches `target` (at least one candidate). */
function nucleus(candidates: Candidate[], target: number): Candidate[] {
  const sorted = sortByProbability(candidates)
  let cumulative = 0
  for (let i = 0; i < sorted.length; i++) {
    cumulative += (sorted[i] as Candidate).p
    if (cumulative >= target) return sorted.slice(0, i + 1)
  }
  return sorted
}

/** The candidate where `u` (uniform in [0, 1)) falls in the cumulative distribution. */
function draw(candidates: readonly Candidate[], u: number): number {
  const total = candidates.reduce((sum, c) => sum + c.p, 0)
  let threshold = u * total
  for (const c of candidates) {
    threshold -= c.p
    if (threshold < 0) return c.id
  }
  return (candidates.at(-1) as Candidate).id
}

/** The index where `u` falls in the cumulative distribution of `weights[0 .. vocab)` (summing to `total`). */
function drawIndex(weights: Float64Array, vocab: number, total: number, u: number): number {
  let threshold = u * total
  for (let id = 0; id < vocab; id++) {
    threshold -= weights[id] as number
    if (threshold < 0) return id
  }
  return vocab - 1
}
