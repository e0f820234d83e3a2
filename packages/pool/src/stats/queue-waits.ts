import type { RoutedNeed } from '../selection/worker-leases.js'
import { Buckets } from './buckets.js'

/** Label of the needs without an index of their own (past the memoised ones): one series, bounded. */
export const OTHER_NEED = 'other'

/**
 * How long attempts waited for a slot, per task type or model (`task:ocr`, `model:mlp`): 0 when a worker had
 * room at once, the time in the wait FIFO otherwise. Written by the attempt dispatcher, read at scrape time.
 */
export class QueueWaits {
  readonly #byIndex: Array<{ key: string; buckets: Buckets } | undefined> = []
  readonly #other = new Buckets()

  /** One attempt got its slot after `seconds`. */
  observe(need: RoutedNeed, seconds: number): void {
    const index = need.index ?? -1
    if (index < 0) {
      this.#other.observe(seconds)
      return
    }
    let entry = this.#byIndex[index]
    if (entry === undefined) {
      entry = { key: need.key, buckets: new Buckets() }
      this.#byIndex[index] = entry
    }
    entry.buckets.observe(seconds)
  }

  /** Every need with observations, and its histogram. */
  entries(): Array<{ key: string; buckets: Buckets }> {
    const out = this.#byIndex.filter((e): e is { key: string; buckets: Buckets } => e !== undefined)
    if (this.#other.count > 0) out.push({ key: OTHER_NEED, buckets: this.#other })
    return out
  }
}
