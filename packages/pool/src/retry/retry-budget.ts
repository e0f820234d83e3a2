/** Settings of {@link RetryBudget}. */
export interface RetryBudgetOptions {
  /** Retries allowed per task started in the window (0.2 = at most 20% extra load). */
  ratio: number
  /** Retries always allowed per window, so a quiet pool can still retry. */
  minRetries: number
  /** Sliding window length in ms. */
  windowMs: number
  /** Clock (ms). */
  now?: () => number
}

const BUCKETS = 10

/**
 * Caps retries at `minRetries + ratio × tasks` over a sliding window (ten buckets), so an outage cannot
 * multiply the load on the workers still up. Counting is O(1) and allocation-free.
 */
export class RetryBudget {
  readonly #requests = new Float64Array(BUCKETS)
  readonly #retries = new Float64Array(BUCKETS)
  #bucket = 0
  #bucketStart: number
  #requestSum = 0
  #retrySum = 0
  #options: Required<RetryBudgetOptions>

  constructor(options: RetryBudgetOptions) {
    this.#options = { now: Date.now, ...options }
    this.#bucketStart = this.#options.now()
  }

  /** Counts one task started (a deposit). */
  recordRequest(): void {
    this.#advance()
    this.#requests[this.#bucket]!++
    this.#requestSum++
  }

  /** Takes one retry if the budget allows it; false means do not retry. */
  tryAcquireRetry(): boolean {
    this.#advance()
    const { ratio, minRetries } = this.#options
    if (this.#retrySum + 1 > minRetries + ratio * this.#requestSum) return false
    this.#retries[this.#bucket]!++
    this.#retrySum++
    return true
  }

  /** Retries left in the current window. */
  get available(): number {
    this.#advance()
    return Math.max(
      0,
      Math.floor(this.#options.minRetries + this.#options.ratio * this.#requestSum - this.#retrySum),
    )
  }

  /** Applies new settings (hot reload); counts are kept. */
  configure(options: Omit<RetryBudgetOptions, 'now'>): void {
    this.#options = { ...this.#options, ...options }
  }

  #advance(): void {
    const width = this.#options.windowMs / BUCKETS
    const elapsed = Math.floor((this.#options.now() - this.#bucketStart) / width)
    if (elapsed <= 0) return
    for (let i = 0, n = Math.min(elapsed, BUCKETS); i < n; i++) {
      this.#bucket = (this.#bucket + 1) % BUCKETS
      this.#requestSum -= this.#requests[this.#bucket]!
      this.#retrySum -= this.#retries[this.#bucket]!
      this.#requests[this.#bucket] = 0
      this.#retries[this.#bucket] = 0
    }
    this.#bucketStart += elapsed * width
  }
}
