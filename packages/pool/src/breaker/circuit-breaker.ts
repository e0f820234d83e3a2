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

/**
 * What {@link CircuitBreaker.acquire} handed out: a normal slot, the single HALF_OPEN probe, or (from
 * {@link CircuitBreaker.bypass}) a request the ejection cap routes past the circuit, whose result the breaker
 * ignores.
 */
export type BreakerPermit = 'normal' | 'probe' | 'bypass'

/** The breaker's state: one union, so a probe flag without HALF_OPEN or a cooldown without OPEN cannot exist. */
export type BreakerState =
  /** Traffic flows; `failures` consecutive failures so far. */
  | { readonly kind: typeof CircuitState.CLOSED; readonly failures: number }
  /** No traffic until `timer` fires, `cooldownMs` after `openedAt`; `reopens` drives the doubling. */
  | {
      readonly kind: typeof CircuitState.OPEN
      readonly openedAt: number
      readonly cooldownMs: number
      readonly reopens: number
      readonly timer: NodeJS.Timeout
    }
  /** One probe may go; `probeInFlight` while it does. */
  | {
      readonly kind: typeof CircuitState.HALF_OPEN
      readonly reopens: number
      readonly probeInFlight: boolean
    }

const CLOSED_CLEAN: BreakerState = { kind: CircuitState.CLOSED, failures: 0 }

/**
 * A consecutive-failures circuit breaker whose OPEN → HALF_OPEN move is driven by a timer, never by someone
 * reading its state (the seeds' breaker only left OPEN when the stats were read). HALF_OPEN admits one probe,
 * reserved by {@link acquire}; results of requests admitted before the circuit opened are ignored.
 */
export class CircuitBreaker {
  #state: BreakerState = CLOSED_CLEAN
  #options: Required<Omit<CircuitBreakerOptions, 'onStateChange'>> &
    Pick<CircuitBreakerOptions, 'onStateChange'>

  constructor(options: CircuitBreakerOptions) {
    this.#options = { jitter: 0.1, random: Math.random, ...options }
  }

  /** Current state name (a plain read; it moves nothing). */
  get state(): CircuitState {
    return this.#state.kind
  }

  /** The whole state (for snapshots and tests). */
  get current(): BreakerState {
    return this.#state
  }

  /** Consecutive failures counted while CLOSED. */
  get consecutiveFailures(): number {
    return this.#state.kind === CircuitState.CLOSED ? this.#state.failures : 0
  }

  /** Re-opens since the circuit was last CLOSED (drives the doubling). */
  get reopenCount(): number {
    return this.#state.kind === CircuitState.CLOSED ? 0 : this.#state.reopens
  }

  /** Length of the current OPEN period in ms, or null when not OPEN. */
  get cooldownMs(): number | null {
    return this.#state.kind === CircuitState.OPEN ? this.#state.cooldownMs : null
  }

  /** `Date.now()` when the circuit last opened, or null when not OPEN. */
  get openedAt(): number | null {
    return this.#state.kind === CircuitState.OPEN ? this.#state.openedAt : null
  }

  /** True when {@link acquire} would succeed: CLOSED, or HALF_OPEN with the probe slot free. */
  get admits(): boolean {
    const s = this.#state
    return s.kind === CircuitState.CLOSED || (s.kind === CircuitState.HALF_OPEN && !s.probeInFlight)
  }

  /** Takes a slot: 'normal' when CLOSED, 'probe' (reserving the only one) when HALF_OPEN, null otherwise. */
  acquire(): BreakerPermit | null {
    const s = this.#state
    if (s.kind === CircuitState.CLOSED) return 'normal'
    if (s.kind === CircuitState.HALF_OPEN && !s.probeInFlight) {
      this.#state = { kind: CircuitState.HALF_OPEN, reopens: s.reopens, probeInFlight: true }
      return 'probe'
    }
    return null
  }

  /** A slot past the circuit, for the ejection cap: the request goes whatever the state, its result is ignored. */
  bypass(): BreakerPermit {
    return 'bypass'
  }

  /** The request holding `permit` succeeded. */
  recordSuccess(permit: BreakerPermit): void {
    const s = this.#state
    if (permit === 'probe') {
      if (s.kind !== CircuitState.HALF_OPEN) return
      this.#transition(CLOSED_CLEAN)
      return
    }
    if (permit === 'normal' && s.kind === CircuitState.CLOSED && s.failures !== 0) this.#state = CLOSED_CLEAN
  }

  /** The request holding `permit` failed in a way held against the worker. */
  recordFailure(permit: BreakerPermit): void {
    const s = this.#state
    if (permit === 'probe') {
      if (s.kind !== CircuitState.HALF_OPEN) return
      this.#open(s.reopens + 1, 0)
      return
    }
    // Late results of requests admitted before the circuit opened, and bypassing ones, change nothing.
    if (permit !== 'normal' || s.kind !== CircuitState.CLOSED) return
    const failures = s.failures + 1
    if (failures >= this.#options.failureThreshold) this.#open(0, failures)
    else this.#state = { kind: CircuitState.CLOSED, failures }
  }

  /** The request holding `permit` ended without a verdict on the worker (bad input, caller abort): frees the probe. */
  release(permit: BreakerPermit): void {
    const s = this.#state
    if (permit === 'probe' && s.kind === CircuitState.HALF_OPEN && s.probeInFlight)
      this.#state = { kind: CircuitState.HALF_OPEN, reopens: s.reopens, probeInFlight: false }
  }

  /** Applies new thresholds (hot reload); the current state and counts are kept. */
  configure(options: Pick<CircuitBreakerOptions, 'failureThreshold' | 'cooldownMs' | 'maxCooldownMs'>): void {
    this.#options = { ...this.#options, ...options }
  }

  /** Stops the cooldown timer (worker removed or pool closed). */
  dispose(): void {
    if (this.#state.kind === CircuitState.OPEN) clearTimeout(this.#state.timer)
  }

  #open(reopens: number, failures: number): void {
    const { cooldownMs, maxCooldownMs, jitter, random } = this.#options
    const base = Math.min(cooldownMs * 2 ** reopens, maxCooldownMs)
    // Jitter only shortens: the configured cooldown stays an upper bound an operator can rely on.
    const wait = Math.max(1, Math.round(base * (1 - jitter * random())))
    const timer = setTimeout(() => {
      this.#transition({ kind: CircuitState.HALF_OPEN, reopens, probeInFlight: false })
    }, wait)
    // A pool whose only remaining handle is a breaker timer must not keep the process alive.
    timer.unref()
    this.#state = { kind: CircuitState.OPEN, openedAt: Date.now(), cooldownMs: wait, reopens, timer }
    this.#options.onStateChange?.(CircuitState.OPEN, { cooldownMs: wait, failures })
  }

  #transition(state: BreakerState): void {
    this.#state = state
    this.#options.onStateChange?.(state.kind, { cooldownMs: null, failures: 0 })
  }
}
