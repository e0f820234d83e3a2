import type { LoadBalancingConfig } from '../config/pool-config.js'
import type { PoolLogger } from '../logger.js'
import type { PoolWorker } from '../workers/pool-worker.js'
import { HealthMonitor } from './health-monitor.js'
import { probeHealth } from './health-probe.js'
import type { HealthTransition } from './worker-health.js'

/** Settings of {@link FleetHealth}. */
export interface FleetHealthOptions {
  /** The workers of the next round. */
  workers: () => readonly PoolWorker[]
  /** The load-balancing settings in force (timeouts, thresholds). */
  settings: () => LoadBalancingConfig
  /** False once the pool is closed: late probe results are dropped. */
  open: () => boolean
  logger: PoolLogger
  random: () => number
  /** After every recorded check (the pool logs a changed verdict, recounts ejections, wakes waiting tasks). */
  onChecked: (worker: PoolWorker, transition: HealthTransition) => void
}

/**
 * The pool's health checking: background rounds and on-demand checks (single-flight per worker), each a
 * `GET /health` probe on the worker's own health connection, recorded into the worker's health; what the
 * verdict changed goes to `onChecked`.
 */
export class FleetHealth {
  readonly #options: FleetHealthOptions
  readonly #monitor: HealthMonitor<PoolWorker>

  constructor(options: FleetHealthOptions) {
    this.#options = options
    this.#monitor = new HealthMonitor<PoolWorker>({
      intervalMs: 0,
      targets: options.workers,
      check: (worker) => this.#check(worker),
      random: options.random,
      onError: (worker, error) =>
        options.logger.error(
          { worker: worker.id, err: (error as Error)?.stack ?? String(error) },
          'health check crashed',
        ),
    })
  }

  /** Starts background rounds. */
  start(): void {
    this.#monitor.start()
  }
  /** Stops background rounds (checks in progress finish, their results are dropped once closed). */
  stop(): void {
    this.#monitor.stop()
  }
  /** A new interval (hot reload). */
  setInterval(intervalMs: number): void {
    this.#monitor.setInterval(intervalMs)
  }
  /** One round over every worker now. */
  checkAll(): Promise<void> {
    return this.#monitor.checkAll()
  }
  /** Checks one worker now, or joins its check in progress. */
  check(worker: PoolWorker): Promise<void> {
    return this.#monitor.check(worker)
  }

  async #check(worker: PoolWorker): Promise<void> {
    if (worker.retired) return
    const lb = this.#options.settings()
    const result = await probeHealth(
      worker.transport.healthClient,
      worker.entry.basePath,
      lb.healthCheckTimeoutMs,
    )
    if (worker.retired || !this.#options.open()) return
    const transition = worker.health.record(result, lb, Date.now())
    this.#options.onChecked(worker, transition)
  }
}
