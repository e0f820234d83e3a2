import type { GenerationLimits } from '../health/worker-health.js'
import type { WorkNeed } from './selectable-worker.js'

/** `sequenceModel` of a text task: it holds a sequence of whichever language model the worker uses by default. */
export const DEFAULT_LANGUAGE_MODEL = '*'

/**
 * The generation sequences this pool holds on one worker: a generation keeps its slot for its whole answer, so
 * capacity counts sequences, not connections. Room is what the worker's own `/health` says it admits (per
 * language model and in all) minus what this pool has running there; past it the worker would answer 503.
 * Written by the leases only (take on reserve, give on release).
 */
export class SequenceSlots {
  readonly #limits: () => GenerationLimits
  readonly #perModel = new Map<string, number>()
  #total = 0

  constructor(limits: () => GenerationLimits) {
    this.#limits = limits
  }

  /** Generation sequences this pool has on the worker now. */
  get active(): number {
    return this.#total
  }

  /** True when `need` holds no sequence, or the worker admits one more of it. */
  hasRoom(need: WorkNeed): boolean {
    const model = need.sequenceModel
    if (model === undefined) return true
    const limits = this.#limits()
    if (limits.total !== null && this.#total >= limits.total) return false
    if (model === DEFAULT_LANGUAGE_MODEL) return true
    const cap = limits.perModel.get(model)
    return cap === undefined || (this.#perModel.get(model) ?? 0) < cap
  }

  /** A request for `need` took a sequence. */
  take(need: WorkNeed): void {
    const model = need.sequenceModel
    if (model === undefined) return
    this.#total++
    this.#perModel.set(model, (this.#perModel.get(model) ?? 0) + 1)
  }

  /** The request for `need` ended: its sequence is free. */
  give(need: WorkNeed): void {
    const model = need.sequenceModel
    if (model === undefined) return
    this.#total--
    const left = (this.#perModel.get(model) ?? 1) - 1
    if (left === 0) this.#perModel.delete(model)
    else this.#perModel.set(model, left)
  }
}
