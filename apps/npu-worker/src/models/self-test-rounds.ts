/**
 * The periodic output self-tests of one registry: a round runs every `intervalSeconds` after the previous one
 * ended (never two at once: a round asked for while one runs joins it), until {@link stop}. Remembers when the
 * last self-test of any model ran, for `/health`.
 */
export class SelfTestRounds {
  #timer: NodeJS.Timeout | null = null
  #round: Promise<void> | null = null
  #lastRunAt: number | null = null
  #stopped = false

  constructor(
    /** Seconds between rounds; 0 = only at load. */
    readonly intervalSeconds: number,
    readonly runRound: () => Promise<void>,
  ) {}

  /** When the last self-test ran (epoch ms), or null. */
  get lastRunAt(): number | null {
    return this.#lastRunAt
  }

  /** A self-test ran at `at` (epoch ms): at load or in a round. */
  record(at: number): void {
    this.#lastRunAt = at
  }

  /** Runs a round now, or joins the one running; resolves when it is done. */
  runNow(): Promise<void> {
    this.#round ??= this.runRound().finally(() => {
      this.#round = null
    })
    return this.#round
  }

  /** Schedules the next round (after the load, then after each round). */
  start(): void {
    if (this.intervalSeconds <= 0 || this.#stopped) return
    this.#timer = setTimeout(() => {
      void this.runNow().finally(() => this.start())
    }, this.intervalSeconds * 1000)
    // The timer alone must not keep a process alive that is otherwise done.
    this.#timer.unref()
  }

  /** No round starts any more (one running finishes). */
  stop(): void {
    this.#stopped = true
    if (this.#timer) clearTimeout(this.#timer)
    this.#timer = null
  }
}
