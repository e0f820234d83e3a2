import { CircuitBreaker, type CircuitBreakerOptions } from '../breaker/circuit-breaker.js'
import type { LoadBalancingConfig, WorkerEntry } from '../config/pool-config.js'
import type { HealthStanding } from '../health/health-standing.js'
import { WorkerHealth } from '../health/worker-health.js'
import { LatencyBook } from '../selection/latency-book.js'
import type { LeaseWorker, WorkNeed } from '../selection/selectable-worker.js'
import { SequenceSlots } from '../selection/sequence-slots.js'
import { SlowStart } from '../selection/slow-start.js'
import { TaskSlots } from '../selection/task-slots.js'
import { GenerationStats } from '../stats/generation-stats.js'
import { WorkerTraffic } from '../stats/worker-traffic.js'
import { WorkerTransport } from '../transport/worker-transport.js'

/** How many needs (task types, models) a worker memoises `serves` answers for; more are looked up each time. */
export const MAX_MEMOISED_NEEDS = 1024

/**
 * One worker in the pool. It holds the parts and each part has one writer: the entry, order, transport and
 * retirement belong to the membership (reload); `health` to the health checks; `breaker` and `slots` to the
 * leases; `sequences` to the leases too; `latency`, `traffic` and `generation` to the attempt dispatcher; `warmup` to the pool's circuit and health hooks.
 * Selection reads it through {@link LeaseWorker}.
 */
export class PoolWorker implements LeaseWorker {
  readonly id: string
  readonly breaker: CircuitBreaker
  readonly health = new WorkerHealth()
  readonly slots: TaskSlots
  readonly latency: LatencyBook
  readonly warmup = new SlowStart()
  readonly traffic = new WorkerTraffic()
  readonly sequences = new SequenceSlots(() => this.health.generation)
  readonly generation = new GenerationStats()
  #entry: WorkerEntry
  #transport: WorkerTransport
  #idOrder = 0
  #retired = false
  // serves() answers by need index: 0 unknown, 1 yes, 2 no; reset when the capability lists change.
  readonly #serving = new Uint8Array(MAX_MEMOISED_NEEDS)
  #servingVersion = -1

  constructor(
    entry: WorkerEntry,
    loadBalancing: LoadBalancingConfig,
    breakerHooks: Pick<CircuitBreakerOptions, 'onStateChange' | 'random'>,
  ) {
    this.id = entry.id
    this.#entry = entry
    this.breaker = new CircuitBreaker({ ...breakerSettings(loadBalancing), ...breakerHooks })
    this.slots = new TaskSlots(entry.maxConcurrentTasks)
    this.latency = new LatencyBook(loadBalancing.latencyDecayMs)
    this.#transport = newTransport(entry)
  }

  /** Its config entry. */
  get entry(): WorkerEntry {
    return this.#entry
  }
  /** `enabled` from its entry. */
  get enabled(): boolean {
    return this.#entry.enabled
  }
  /** `priority` from its entry. */
  get priority(): number {
    return this.#entry.priority
  }
  /** Position of its id among the sorted ids (selection's last tie-break). */
  get idOrder(): number {
    return this.#idOrder
  }
  /** Routing standing from health and identity. */
  get standing(): HealthStanding {
    return this.health.standing
  }
  /** Inferences it runs at once, by its last `/health` (1 before one). */
  get parallelism(): number {
    return this.health.parallelism
  }
  /** Its HTTP side (replaced when the cap or token changes). */
  get transport(): WorkerTransport {
    return this.#transport
  }
  /** True once a reload removed it: no new traffic, it closes once drained. */
  get retired(): boolean {
    return this.#retired
  }

  /** True when its last /health listed the task type (and the model the task names) or the model as ready. */
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

  /** Sets its place among the sorted ids (membership, after every reload). */
  placeAt(idOrder: number): void {
    this.#idOrder = idOrder
  }

  /**
   * Applies a reloaded entry of the same worker (same id and URL): state, breaker and counters stay. Returns
   * the old transport when it had to be replaced (connection count or token changed), for the caller to drain.
   */
  reconfigure(entry: WorkerEntry, loadBalancing: LoadBalancingConfig): WorkerTransport | null {
    const previous = this.#entry
    this.#entry = entry
    this.slots.resize(entry.maxConcurrentTasks)
    this.breaker.configure(breakerSettings(loadBalancing))
    this.latency.configure(loadBalancing.latencyDecayMs)
    if (previous.maxConcurrentTasks === entry.maxConcurrentTasks && previous.authToken === entry.authToken)
      return null
    const old = this.#transport
    this.#transport = newTransport(entry)
    return old
  }

  /** Takes it out for good (a reload removed it): its timers stop; in-flight requests finish on the transport. */
  retire(): void {
    this.#retired = true
    this.breaker.dispose()
  }

  #lookup(need: WorkNeed): boolean {
    if (need.kind === 'model') return this.health.models.has(need.name)
    return (
      this.health.tasks.has(need.name) && (need.model === undefined || this.health.models.has(need.model))
    )
  }
}

function breakerSettings(lb: LoadBalancingConfig) {
  return {
    failureThreshold: lb.failureThreshold,
    cooldownMs: lb.retryCooldownMs,
    maxCooldownMs: lb.maxCooldownMs,
  }
}

function newTransport(entry: WorkerEntry): WorkerTransport {
  return new WorkerTransport({
    origin: entry.origin,
    connections: entry.maxConcurrentTasks,
    authToken: entry.authToken,
  })
}
