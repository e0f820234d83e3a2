import type { FleetHealth, HealthResponse, HealthStatus, Load } from '@npu-fleet/protocol'
import type { HealthProbeResult } from './health-probe.js'
import { HealthStanding } from './health-standing.js'

/** Thresholds for turning checks into up/down (hysteresis against flapping). */
export interface HealthThresholds {
  /** Consecutive failed checks that mark an up worker down. */
  unhealthyThreshold: number
  /** Consecutive passed checks that mark a down worker up. */
  healthyThreshold: number
}

/** Why a worker is down. */
export type DownCause = Exclude<HealthProbeResult['kind'], 'serving'>

/** A worker's health verdict: one state, so "up but never checked" cannot be written. */
export type HealthState =
  /** Never checked: no traffic. */
  | { readonly kind: 'unchecked' }
  /** Its checks pass (or fail below `unhealthy_threshold` by silence or its own 503): routed to. */
  | { readonly kind: 'up' }
  /** Marked down; `cause` is the kind of the check that did it. */
  | { readonly kind: 'down'; readonly cause: DownCause }

/** What a recorded check changed: up, down, or refused (answered, but not as a compatible npu-worker). */
export type HealthTransition = 'up' | 'down' | 'refused' | null

/**
 * What a worker admits for text generation before it answers 503: per language model its `max_sequences +
 * max_queued`, and in all `load.generation.capacity + queue_capacity` (null when it reports none).
 */
export interface GenerationLimits {
  readonly perModel: ReadonlyMap<string, number>
  readonly total: number | null
}

const NO_GENERATION_LIMITS: GenerationLimits = { perModel: new Map(), total: null }
const EMPTY = new Set<string>()
const UNCHECKED: HealthState = { kind: 'unchecked' }
const UP: HealthState = { kind: 'up' }
const DOWN: Record<DownCause, HealthState> = {
  not_serving: { kind: 'down', cause: 'not_serving' },
  incompatible: { kind: 'down', cause: 'incompatible' },
  silent: { kind: 'down', cause: 'silent' },
  unreachable: { kind: 'down', cause: 'unreachable' },
}

/**
 * One worker's health as the pool routes by it: up/down with hysteresis, its status (healthy before
 * degraded), what it serves (task types and ready models from `/health`), and whether its identity holds.
 * Identity (`trusted`) is what the token rides on: only a worker whose last answer to `/health` validated as a
 * compatible npu-worker gets requests, so the bearer token never goes to whatever else answers on its port.
 * Health-check failures are counted here, apart from task failures (the circuit breaker's). `record` is the
 * only writer.
 */
export class WorkerHealth {
  #state: HealthState = UNCHECKED
  #standing: HealthStanding = HealthStanding.OUT
  #trusted = false
  #refused: string | null = null
  #status: HealthStatus | null = null
  #tasks: ReadonlySet<string> = EMPTY
  #models: ReadonlySet<string> = EMPTY
  #load: Load | null = null
  #parallelism = 1
  #generation: GenerationLimits = NO_GENERATION_LIMITS
  #version: string | null = null
  #protocolVersion: number | null = null
  #device: string | null = null
  #lastCheckAt: number | null = null
  #lastError: string | null = null
  #lastLatencyMs: number | null = null
  #lastReport: { body: HealthResponse; at: number } | null = null
  #consecutiveFailures = 0
  #consecutivePasses = 0
  #totalChecks = 0
  #totalFailures = 0
  #capabilitiesVersion = 0

  /** The verdict. */
  get state(): HealthState {
    return this.#state
  }
  /** True when the worker is up (what stats and the admin routes call healthy). */
  get up(): boolean {
    return this.#state.kind === 'up'
  }
  /** The verdict in one word, as the fleet page and `npu_pool_worker_health_state` name it. */
  get label(): FleetHealth {
    if (this.#refused !== null) return 'refused'
    if (this.#state.kind === 'unchecked') return 'unchecked'
    if (this.#state.kind === 'down') return 'down'
    return this.#status === 'healthy' ? 'healthy' : 'degraded'
  }
  /** Routing standing (see {@link HealthStanding}). */
  get standing(): HealthStanding {
    return this.#standing
  }
  /** True when the last answer to `/health` validated as a compatible npu-worker (requests and the token may go). */
  get trusted(): boolean {
    return this.#trusted
  }
  /** Why the pool will not speak to it (its last answer was not a compatible npu-worker), or null. */
  get refused(): string | null {
    return this.#refused
  }
  /** The worker's own status from its last valid health body, or null. */
  get status(): HealthStatus | null {
    return this.#status
  }
  /** Task types served, from `capabilities.tasks`. */
  get tasks(): ReadonlySet<string> {
    return this.#tasks
  }
  /** Ready models, from `capabilities.models`. */
  get models(): ReadonlySet<string> {
    return this.#models
  }
  /** The generation admission limits its last valid `/health` reported (sequences + queue, per model and in all). */
  get generation(): GenerationLimits {
    return this.#generation
  }
  /**
   * Inferences the worker runs at once by its last valid check (`load.capacity`: the live slots of its ready
   * models), at least 1; 1 before any.
   */
  get parallelism(): number {
    return this.#parallelism
  }
  /** The worker's reported load at the last valid check. */
  get load(): Load | null {
    return this.#load
  }
  /** The worker's reported version. */
  get version(): string | null {
    return this.#version
  }
  /** The worker's `protocol_version` from its last valid body. */
  get protocolVersion(): number | null {
    return this.#protocolVersion
  }
  /** Best device any ready model runs on (`NPU`, `CPU`, ...). */
  get device(): string | null {
    return this.#device
  }
  /** `Date.now()` of the last finished check, or null before the first. */
  get lastCheckAt(): number | null {
    return this.#lastCheckAt
  }
  /** Why the last failed check failed (kept until a check passes). */
  get lastError(): string | null {
    return this.#lastError
  }
  /** The last `/health` body a compatible npu-worker answered (serving or not), and when; null before one. */
  get lastReport(): { readonly body: HealthResponse; readonly at: number } | null {
    return this.#lastReport
  }
  /** Round-trip of the last check in ms. */
  get lastLatencyMs(): number | null {
    return this.#lastLatencyMs
  }
  /** Failed checks in a row. */
  get consecutiveFailures(): number {
    return this.#consecutiveFailures
  }
  /** Checks done. */
  get totalChecks(): number {
    return this.#totalChecks
  }
  /** Failed checks in all. */
  get totalFailures(): number {
    return this.#totalFailures
  }
  /** Bumped whenever `tasks` or `models` change (lets workers memoise what they serve). */
  get capabilitiesVersion(): number {
    return this.#capabilitiesVersion
  }

  /**
   * Records one check. The first check decides at once, later ones go through the thresholds, except an
   * answer that is not a compatible npu-worker and a vanished listener: those take the worker out at once.
   */
  record(result: HealthProbeResult, thresholds: HealthThresholds, now: number): HealthTransition {
    const first = this.#lastCheckAt === null
    const wasUp = this.#state.kind === 'up'
    this.#lastCheckAt = now
    this.#lastLatencyMs = result.latencyMs
    this.#totalChecks++
    let transition: HealthTransition = null
    if (result.kind === 'serving') {
      this.#consecutivePasses++
      this.#consecutiveFailures = 0
      this.#lastError = null
      this.#trusted = true
      this.#refused = null
      this.#lastReport = { body: result.health, at: now }
      this.#absorb(result.health)
      if (!wasUp && (first || this.#consecutivePasses >= thresholds.healthyThreshold)) {
        this.#state = UP
        transition = 'up'
      }
    } else {
      this.#consecutiveFailures++
      this.#consecutivePasses = 0
      this.#totalFailures++
      this.#lastError = result.reason
      switch (result.kind) {
        case 'not_serving':
          // A compatible npu-worker answered: its identity holds, its own word says it cannot serve now.
          this.#trusted = true
          this.#refused = null
          this.#status = result.health.status
          this.#protocolVersion = result.health.protocol_version ?? null
          this.#lastReport = { body: result.health, at: now }
          break
        case 'incompatible':
          this.#trusted = false
          if (this.#refused === null) transition = 'refused'
          this.#refused = result.reason
          break
        case 'unreachable':
          this.#trusted = false
          break
        case 'silent':
          // No answer is no news about who listens there: identity stays as the last answer left it.
          break
      }
      const immediate = result.kind === 'incompatible' || result.kind === 'unreachable'
      if (!wasUp || immediate || this.#consecutiveFailures >= thresholds.unhealthyThreshold) {
        this.#state = DOWN[result.kind]
        if (wasUp && transition === null) transition = 'down'
      }
    }
    this.#standing = standingOf(this.#state, this.#status, this.#trusted)
    return transition
  }

  #absorb(health: HealthResponse): void {
    this.#status = health.status
    this.#load = health.load
    this.#parallelism = Math.max(1, health.load.capacity)
    this.#generation = generationLimits(health)
    this.#version = health.version
    this.#protocolVersion = health.protocol_version ?? null
    this.#device = health.capabilities.device
    // New sets only when the lists changed: health rounds must not churn garbage on a large fleet.
    let changed = false
    if (!sameMembers(this.#tasks, health.capabilities.tasks)) {
      this.#tasks = new Set(health.capabilities.tasks)
      changed = true
    }
    if (!sameMembers(this.#models, health.capabilities.models)) {
      this.#models = new Set(health.capabilities.models)
      changed = true
    }
    if (changed) this.#capabilitiesVersion++
  }
}

function standingOf(state: HealthState, status: HealthStatus | null, trusted: boolean): HealthStanding {
  if (state.kind === 'up') return status === 'healthy' ? HealthStanding.HEALTHY : HealthStanding.DEGRADED
  if (state.kind === 'down' && state.cause === 'silent' && trusted) return HealthStanding.SILENT
  return HealthStanding.OUT
}

function sameMembers(set: ReadonlySet<string>, list: readonly string[]): boolean {
  if (set.size !== list.length) return false
  for (const item of list) if (!set.has(item)) return false
  return true
}

function generationLimits(health: HealthResponse): GenerationLimits {
  const total = health.load.generation
  let perModel: Map<string, number> | null = null
  for (const model of health.models) {
    const g = model.generation
    if (!g || !model.ready) continue
    perModel ??= new Map()
    perModel.set(model.name, g.max_sequences + g.max_queued)
  }
  if (perModel === null && total === undefined) return NO_GENERATION_LIMITS
  return {
    perModel: perModel ?? NO_GENERATION_LIMITS.perModel,
    total: total === undefined ? null : total.capacity + total.queue_capacity,
  }
}
