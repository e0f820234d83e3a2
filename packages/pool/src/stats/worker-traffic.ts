import { Buckets } from './buckets.js'
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

/** A worker's `NPU_ERR_*` code as a metrics label: the code when it looks like one, else `other` (bounded). */
function codeLabel(code: string | null): string {
  if (code === null) return 'none'
  return /^NPU_ERR_[A-Z0-9_]{1,48}$/.test(code) ? code : 'other'
}

/**
 * What the pool's attempts did on one worker: counters, failures by reason and code, and the latency window
 * and histogram of its successes. The attempt dispatcher is the only writer, one method per outcome.
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
  /** Durations of successful attempts (seconds), for the metrics histogram. */
  readonly durations = new Buckets()
  // `reason code` → count; failures are rare, so a string key here costs nothing on the success path.
  readonly #failuresBy = new Map<string, number>()

  /** An attempt went out (`panic`: routed while ejected). */
  sent(panic: boolean): void {
    this.#counters.requests++
    if (panic) this.#counters.routedWhileEjected++
  }
  /** It succeeded after `ms`. */
  succeeded(ms: number): void {
    this.#counters.successes++
    this.#latency.record(ms)
    this.durations.observe(ms / 1000)
  }
  /** It failed in a way held against the worker (`reason`, and the worker's code if it sent one). */
  failed(reason: string, workerCode: string | null): void {
    this.#counters.failures++
    this.#count(reason, workerCode)
  }
  /** The worker refused it as bad input. */
  rejected(workerCode: string | null): void {
    this.#counters.rejected++
    this.#count('rejected', workerCode)
  }
  /** The worker turned it away (back-pressure, not serving). */
  deferred(reason: string, workerCode: string | null): void {
    this.#counters.deferred++
    this.#count(reason, workerCode)
  }

  /** Attempts that did not succeed, by `[reason, code]` (counted apart from `failures`, which opens circuits). */
  unsuccessful(): Array<{ reason: string; code: string; count: number }> {
    return [...this.#failuresBy].map(([key, count]) => {
      const [reason, code] = key.split(' ') as [string, string]
      return { reason, code, count }
    })
  }

  #count(reason: string, workerCode: string | null): void {
    const key = `${reason} ${codeLabel(workerCode)}`
    this.#failuresBy.set(key, (this.#failuresBy.get(key) ?? 0) + 1)
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
