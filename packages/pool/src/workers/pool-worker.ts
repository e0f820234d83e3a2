import { CircuitBreaker, type CircuitBreakerOptions } from '../breaker/circuit-breaker.js'
import type { LoadBalancingConfig, WorkerConfig } from '../config/pool-config.js'
import type { HealthCheckTarget } from '../health/health-monitor.js'
import { WorkerHealth } from '../health/worker-health.js'
import type { SelectableWorker, WorkNeed } from '../selection/worker-selector.js'
import { LatencyWindow } from '../stats/latency-window.js'
import { WorkerTransport } from '../transport/worker-transport.js'

/** How many needs (task types, models) a worker memoises `serves` answers for; more are looked up each time. */
export const MAX_MEMOISED_NEEDS = 1024

/** Per-worker counters (attempts this pool sent to the worker). */
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
}

/**
 * One worker's runtime state in the pool: its config, circuit breaker, health, in-flight count, counters,
 * latency window and transport. Selection reads it; the pool is the only writer.
 */
export class PoolWorker implements SelectableWorker, HealthCheckTarget {
  readonly id: string
  config: WorkerConfig
  enabled: boolean
  priority: number
  maxConcurrent: number
  idOrder = 0
  active = 0
  backoffUntil = 0
  /** Set when a reload removed the worker: it gets no new traffic and closes once drained. */
  removed = false
  healthCheck: Promise<void> | null = null
  readonly breaker: CircuitBreaker
  readonly health = new WorkerHealth()
  readonly counters: WorkerCounters = { requests: 0, successes: 0, failures: 0, rejected: 0, deferred: 0 }
  readonly latency = new LatencyWindow()
  transport: WorkerTransport
  /** Wakes waiting tasks when a Retry-After ends. */
  backoffTimer: NodeJS.Timeout | null = null
  // serves() answers by need index: 0 unknown, 1 yes, 2 no; reset when the capability lists change.
  readonly #serving = new Uint8Array(MAX_MEMOISED_NEEDS)
  #servingVersion = -1

  constructor(
    config: WorkerConfig,
    loadBalancing: LoadBalancingConfig,
    breakerHooks: Pick<CircuitBreakerOptions, 'onStateChange' | 'random'>,
  ) {
    this.id = config.id
    this.config = config
    this.enabled = config.enabled
    this.priority = config.priority
    this.maxConcurrent = config.maxConcurrentTasks
    this.breaker = new CircuitBreaker({ ...breakerSettings(loadBalancing), ...breakerHooks })
    this.transport = newTransport(config)
  }

  /** 0 healthy, 1 degraded, -1 out of rotation (selection's health order). */
  get healthRank(): number {
    const standing = this.health.standing
    return standing <= 1 ? standing : -1
  }

  /** True when its last /health listed the task type or the model as ready. */
  serves(need: WorkNeed): boolean {
    const index = need.index ?? -1
    // Selection asks this for every worker on every request: a byte read instead of a string-keyed Set lookup.
    if (index < 0 || index >= MAX_MEMOISED_NEEDS) return this.#lookup(need)
    if (this.#servingVersion !== this.health.capabilitiesVersion) {
      this.#serving.fill(0)
      this.#servingVersion = this.health.capabilitiesVersion
    }
    const known = this.#serving[index]
    if (known !== 0) return known === 1
    const yes = this.#lookup(need)
    this.#serving[index] = yes ? 1 : 2
    return yes
  }

  #lookup(need: WorkNeed): boolean {
    return need.kind === 'task' ? this.health.tasks.has(need.name) : this.health.models.has(need.name)
  }

  /**
   * Applies a reloaded config of the same worker (same id and URL): state, breaker and counters stay. Returns
   * the old transport when it had to be replaced (connection count or token changed), for the caller to drain.
   */
  reconfigure(config: WorkerConfig, loadBalancing: LoadBalancingConfig): WorkerTransport | null {
    const previous = this.config
    this.config = config
    this.enabled = config.enabled
    this.priority = config.priority
    this.maxConcurrent = config.maxConcurrentTasks
    this.breaker.configure(breakerSettings(loadBalancing))
    if (previous.maxConcurrentTasks === config.maxConcurrentTasks && previous.authToken === config.authToken)
      return null
    const old = this.transport
    this.transport = newTransport(config)
    return old
  }
}

function breakerSettings(lb: LoadBalancingConfig) {
  return {
    failureThreshold: lb.failureThreshold,
    cooldownMs: lb.retryCooldownMs,
    maxCooldownMs: lb.maxCooldownMs,
  }
}

function newTransport(config: WorkerConfig): WorkerTransport {
  return new WorkerTransport({
    origin: config.origin,
    connections: config.maxConcurrentTasks,
    authToken: config.authToken,
  })
}
