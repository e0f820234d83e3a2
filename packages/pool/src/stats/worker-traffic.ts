import { type LatencySummary, LatencyWindow } from './latency-window.js'

/** Per-worker counters of the attempts this pool sent, as snapshots report them. */
export interface WorkerCounters {
  /** Attempts sent. */
  requests: number
  successes: number
  /** Attempts that failed in a way held against the worker (what opens its circuit). */
  failures: number
  /** Attempts the worker refused as bad input (4xx): not its fault. */
  rejected: number
  /** Attempts it turned away with back-pressure or not-serving (429/503): not counted as failures. */
  deferred: number
  /** Attempts routed to it while ejected, under the ejection cap. */
  routedWhileEjected: number
}

/**
 * What the pool's attempts did on one worker: counters and the latency window of its successes. The attempt
 * dispatcher is the only writer, one method per outcome.
 */
export class WorkerTraffic {
  readonly #counters: WorkerCounters = {
    requests: 0,
    successes: 0,
    failures: 0,
    rejected: 0,
    deferred: 0,
    routedWhileEjected: 0,
  }
  readonly #latency = new LatencyWindow()

  /** An attempt went out (`panic`: routed while ejected). */
  sent(panic: boolean): void {
    this.#counters.requests++
    if (panic) this.#counters.routedWhileEjected++
  }
  /** It succeeded after `ms`. */
  succeeded(ms: number): void {
    this.#counters.successes++
    this.#latency.record(ms)
  }
  /** It failed in a way held against the worker. */
  failed(): void {
    this.#counters.failures++
  }
  /** The worker refused it as bad input. */
  rejected(): void {
    this.#counters.rejected++
  }
  /** The worker turned it away (back-pressure, not serving). */
  deferred(): void {
    this.#counters.deferred++
  }

  /** A copy of the counters. */
  counters(): WorkerCounters {
    return { ...this.#counters }
  }
  /** Percentiles of the recent successes. */
  latency(): LatencySummary {
    return this.#latency.summary()
  }
}
