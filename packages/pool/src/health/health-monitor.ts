/** Settings of {@link HealthMonitor}. */
export interface HealthMonitorOptions<T extends object> {
  /** Milliseconds between rounds (±10% jitter); 0 = no background rounds. */
  intervalMs: number
  /** Runs one probe and applies its result; must not throw (a failed probe is a result). */
  check: (target: T) => Promise<void>
  /** The workers of the next round (read at each round, so reloads take effect). */
  targets: () => readonly T[]
  /** Random source in [0, 1). */
  random?: () => number
  /** Called if `check` throws anyway (a bug): the error must not become an unhandled rejection. */
  onError?: (target: T, error: unknown) => void
}

const JITTER = 0.1

/**
 * Background health rounds: every `intervalMs` with ±10% jitter (so pools started together do not probe in
 * step), all workers concurrently, each check single-flight per worker so an on-demand check and a round
 * never probe the same worker twice at once.
 */
export class HealthMonitor<T extends object> {
  /** The check in progress per worker, shared by everyone who asks (single-flight). */
  readonly #inFlight = new Map<T, Promise<void>>()
  #timer: NodeJS.Timeout | null = null
  #running = false
  #options: Required<HealthMonitorOptions<T>>

  constructor(options: HealthMonitorOptions<T>) {
    this.#options = { random: Math.random, onError: () => {}, ...options }
  }

  /** Starts background rounds (the first after one interval; `initialize` runs a round itself). */
  start(): void {
    this.#running = true
    this.#schedule()
  }

  /** Stops background rounds; checks in progress finish. */
  stop(): void {
    this.#running = false
    if (this.#timer) clearTimeout(this.#timer)
    this.#timer = null
  }

  /** Changes the interval (hot reload) and reschedules the next round. */
  setInterval(intervalMs: number): void {
    this.#options.intervalMs = intervalMs
    if (this.#running) {
      if (this.#timer) clearTimeout(this.#timer)
      this.#timer = null
      this.#schedule()
    }
  }

  /** One round over every worker, concurrently; resolves when all checks finished. */
  async checkAll(): Promise<void> {
    await Promise.all(this.#options.targets().map((target) => this.check(target)))
  }

  /** Checks one worker now, or joins the check already in progress for it. */
  check(target: T): Promise<void> {
    const running = this.#inFlight.get(target)
    if (running) return running
    const run = this.#options
      .check(target)
      .catch((error: unknown) => this.#options.onError(target, error))
      .finally(() => {
        this.#inFlight.delete(target)
      })
    this.#inFlight.set(target, run)
    return run
  }

  #schedule(): void {
    const { intervalMs, random } = this.#options
    if (!this.#running || intervalMs <= 0) return
    const delay = Math.max(1, Math.round(intervalMs * (1 - JITTER + 2 * JITTER * random())))
    this.#timer = setTimeout(() => {
      this.#timer = null
      void this.checkAll().finally(() => this.#schedule())
    }, delay)
    // Health rounds alone must not keep a process alive (a CLI or test that forgot close()).
    this.#timer.unref()
  }
}
