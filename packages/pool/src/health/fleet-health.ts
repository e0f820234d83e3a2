import type { Dispatcher } from 'undici'
import type { LoadBalancingConfig } from '../config/pool-config.js'
import type { PoolLogger } from '../logger.js'
import { HealthMonitor } from './health-monitor.js'
import { probeHealth } from './health-probe.js'
import type { HealthTransition, WorkerHealth } from './worker-health.js'

/** What a check needs of a worker (`PoolWorker` fits). */
export interface CheckedWorker {
  readonly id: string
  /** True once a reload removed it: its results are dropped. */
  readonly retired: boolean
  readonly health: WorkerHealth
  readonly entry: { readonly basePath: string }
  readonly transport: { readonly healthClient: Dispatcher }
}

/** Settings of {@link FleetHealth}. */
export interface FleetHealthOptions<W extends CheckedWorker> {
  /** The workers of the next round. */
  workers: () => readonly W[]
  /** The load-balancing settings in force (timeouts, thresholds). */
  settings: () => LoadBalancingConfig
  /** False once the pool is closed: late probe results are dropped. */
  open: () => boolean
  logger: PoolLogger
  random: () => number
  /** After every recorded check (the pool logs a changed verdict, recounts ejections, wakes waiting tasks). */
  onChecked: (worker: W, transition: HealthTransition) => void
}

/**
 * The pool's health checking: background rounds and on-demand checks (single-flight per worker), each a
 * `GET /health` probe on the worker's own health connection, recorded into the worker's health; what the
 * verdict changed goes to `onChecked`.
 */
export class FleetHealth<W extends CheckedWorker> {
  readonly #options: FleetHealthOptions<W>
  readonly #monitor: HealthMonitor<W>

  constructor(options: FleetHealthOptions<W>) {
    this.#options = options
    this.#monitor = new HealthMonitor<W>({
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
  check(worker: W): Promise<void> {
    return this.#monitor.check(worker)
  }

  async #check(worker: W): Promise<void> {
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
