/**
 * The three states of a worker's circuit. The values are the seeds' (`CircuitState.CLOSED.value == "closed"`
 * in their client and its tests), which the admin routes answer and the old admin UI reads.
 */
export const CircuitState = {
  /** Traffic flows; consecutive task failures are counted. */
  CLOSED: 'closed',
  /** No traffic until the cooldown timer fires. */
  OPEN: 'open',
  /** Exactly one probe request is admitted; its outcome closes or re-opens the circuit. */
  HALF_OPEN: 'half_open',
} as const
/** One of `closed`, `open`, `half_open`. */
export type CircuitState = (typeof CircuitState)[keyof typeof CircuitState]

/** Breaker settings (milliseconds). */
export interface CircuitBreakerOptions {
  /** Consecutive failures that open the circuit. */
  failureThreshold: number
  /** First cooldown; doubles on each consecutive re-open. */
  cooldownMs: number
  /** Cap of the doubled cooldown. */
  maxCooldownMs: number
  /** Fraction taken off at random so breakers opened together do not all probe at once (default 0.1). */
  jitter?: number
  /** Random source in [0, 1) (tests pass a fixed one). */
  random?: () => number
  /** Called on every state change, after it happened (the pool logs, and wakes waiting tasks). */
  onStateChange?: (state: CircuitState, detail: { cooldownMs: number | null; failures: number }) => void
}

/** What {@link CircuitBreaker.acquire} handed out: a normal slot, or the single HALF_OPEN probe. */
export type BreakerPermit = 'normal' | 'probe'

/**
 * A consecutive-failures circuit breaker whose OPEN → HALF_OPEN move is driven by a timer, never by someone
 * reading its state (the seeds' breaker only left OPEN when the stats were read). HALF_OPEN admits one probe,
 * reserved by {@link acquire}; results of requests admitted before the circuit opened are ignored.
 */
export class CircuitBreaker {
  #state: CircuitState = CircuitState.CLOSED
  #failures = 0
  #reopens = 0
  #probeInFlight = false
  #timer: NodeJS.Timeout | null = null
  #openedAt: number | null = null
  #cooldownMs: number | null = null
  #options: Required<Omit<CircuitBreakerOptions, 'onStateChange'>> &
    Pick<CircuitBreakerOptions, 'onStateChange'>

  constructor(options: CircuitBreakerOptions) {
    this.#options = { jitter: 0.1, random: Math.random, ...options }
  }

  /** Current state (a plain read; it moves nothing). */
  get state(): CircuitState {
    return this.#state
  }

  /** Consecutive failures counted while CLOSED. */
  get consecutiveFailures(): number {
    return this.#failures
  }

  /** Re-opens since the circuit was last CLOSED (drives the doubling). */
  get reopenCount(): number {
    return this.#reopens
  }

  /** Length of the current OPEN period in ms, or null when not OPEN. */
  get cooldownMs(): number | null {
    return this.#state === CircuitState.OPEN ? this.#cooldownMs : null
  }

  /** `Date.now()` when the circuit last opened, or null when not OPEN. */
  get openedAt(): number | null {
    return this.#state === CircuitState.OPEN ? this.#openedAt : null
  }

  /** True when {@link acquire} would succeed: CLOSED, or HALF_OPEN with the probe slot free. */
  get admits(): boolean {
    return (
      this.#state === CircuitState.CLOSED || (this.#state === CircuitState.HALF_OPEN && !this.#probeInFlight)
    )
  }

  /** Takes a slot: 'normal' when CLOSED, 'probe' (reserving the only one) when HALF_OPEN, null otherwise. */
  acquire(): BreakerPermit | null {
    if (this.#state === CircuitState.CLOSED) return 'normal'
    if (this.#state === CircuitState.HALF_OPEN && !this.#probeInFlight) {
      this.#probeInFlight = true
      return 'probe'
    }
    return null
  }

  /** The request holding `permit` succeeded. */
  recordSuccess(permit: BreakerPermit): void {
    if (permit === 'probe') {
      if (this.#state !== CircuitState.HALF_OPEN) return
      this.#probeInFlight = false
      this.#reopens = 0
      this.#failures = 0
      this.#transition(CircuitState.CLOSED)
      return
    }
    if (this.#state === CircuitState.CLOSED) this.#failures = 0
  }

  /** The request holding `permit` failed in a way held against the worker. */
  recordFailure(permit: BreakerPermit): void {
    if (permit === 'probe') {
      if (this.#state !== CircuitState.HALF_OPEN) return
      this.#probeInFlight = false
      this.#reopens++
      this.#open()
      return
    }
    // Late results of requests admitted before the circuit opened change nothing.
    if (this.#state !== CircuitState.CLOSED) return
    this.#failures++
    if (this.#failures >= this.#options.failureThreshold) this.#open()
  }

  /** The request holding `permit` ended without a verdict on the worker (bad input, caller abort): frees the probe. */
  release(permit: BreakerPermit): void {
    if (permit === 'probe' && this.#state === CircuitState.HALF_OPEN) this.#probeInFlight = false
  }

  /** Applies new thresholds (hot reload); the current state and counts are kept. */
  configure(options: Pick<CircuitBreakerOptions, 'failureThreshold' | 'cooldownMs' | 'maxCooldownMs'>): void {
    this.#options = { ...this.#options, ...options }
  }

  /** Stops the cooldown timer (worker removed or pool closed). */
  dispose(): void {
    if (this.#timer) clearTimeout(this.#timer)
    this.#timer = null
  }

  #open(): void {
    const { cooldownMs, maxCooldownMs, jitter, random } = this.#options
    const base = Math.min(cooldownMs * 2 ** this.#reopens, maxCooldownMs)
    // Jitter only shortens: the configured cooldown stays an upper bound an operator can rely on.
    const wait = Math.max(1, Math.round(base * (1 - jitter * random())))
    this.#cooldownMs = wait
    this.#openedAt = Date.now()
    const failures = this.#failures
    this.#failures = 0
    if (this.#timer) clearTimeout(this.#timer)
    this.#timer = setTimeout(() => {
      this.#timer = null
      this.#probeInFlight = false
      this.#transition(CircuitState.HALF_OPEN)
    }, wait)
    // A pool whose only remaining handle is a breaker timer must not keep the process alive.
    this.#timer.unref()
    this.#state = CircuitState.OPEN
    this.#options.onStateChange?.(CircuitState.OPEN, { cooldownMs: wait, failures })
  }

  #transition(state: CircuitState): void {
    this.#state = state
    this.#options.onStateChange?.(state, { cooldownMs: null, failures: this.#failures })
  }
}
