import type { HealthResponse, HealthStatus, Load } from '@npu-fleet/protocol'
import type { HealthProbeResult } from './health-probe.js'

/** Thresholds for turning checks into up/down (hysteresis against flapping). */
export interface HealthThresholds {
  /** Consecutive failed checks that mark an up worker down. */
  unhealthyThreshold: number
  /** Consecutive passed checks that mark a down worker up. */
  healthyThreshold: number
}

/** What a recorded check changed. */
export type HealthTransition = 'up' | 'down' | null

const EMPTY = new Set<string>()

/**
 * One worker's health as the pool routes by it: up/down with hysteresis, its status (healthy before
 * degraded), and what it serves (task types and ready models from `/health`). Health-check failures are
 * counted here, apart from task failures (the circuit breaker's).
 */
export class WorkerHealth {
  /** True when the worker may get traffic as far as health goes. */
  up = false
  /** 0 healthy, 1 degraded, -1 down or never checked (what selection sorts by). */
  rank = -1
  /** The worker's own status from its last valid health body, or null. */
  status: HealthStatus | null = null
  /** Task types served, from `capabilities.tasks`. */
  tasks: ReadonlySet<string> = EMPTY
  /** Ready models, from `capabilities.models`. */
  models: ReadonlySet<string> = EMPTY
  /** The worker's reported load at the last check. */
  load: Load | null = null
  /** The worker's reported version. */
  version: string | null = null
  /** Best device any ready model runs on (`NPU`, `CPU`, ...). */
  device: string | null = null
  /** `Date.now()` of the last finished check, or null before the first. */
  lastCheckAt: number | null = null
  /** Why the last failed check failed (kept until a check passes). */
  lastError: string | null = null
  /** Round-trip of the last check in ms. */
  lastLatencyMs: number | null = null
  consecutiveFailures = 0
  consecutivePasses = 0
  totalChecks = 0
  totalFailures = 0
  /** Bumped whenever `tasks` or `models` change (lets workers memoise what they serve). */
  capabilitiesVersion = 0

  /** Records one check; the first check decides at once, later ones need the thresholds. */
  record(result: HealthProbeResult, thresholds: HealthThresholds, now: number): HealthTransition {
    const first = this.lastCheckAt === null
    this.lastCheckAt = now
    this.lastLatencyMs = result.latencyMs
    this.totalChecks++
    if (result.ok) {
      this.consecutivePasses++
      this.consecutiveFailures = 0
      this.lastError = null
      this.#absorb(result.health)
      if (!this.up && (first || this.consecutivePasses >= thresholds.healthyThreshold)) {
        this.up = true
        this.rank = this.status === 'healthy' ? 0 : 1
        return 'up'
      }
      if (this.up) this.rank = this.status === 'healthy' ? 0 : 1
      return null
    }
    this.consecutiveFailures++
    this.consecutivePasses = 0
    this.totalFailures++
    this.lastError = result.reason
    if (result.status !== null) this.status = result.status
    if (this.up && (first || this.consecutiveFailures >= thresholds.unhealthyThreshold)) {
      this.up = false
      this.rank = -1
      return 'down'
    }
    return null
  }

  #absorb(health: HealthResponse): void {
    this.status = health.status
    this.load = health.load
    this.version = health.version
    this.device = health.capabilities.device
    // New sets only when the lists changed: health rounds must not churn garbage on a large fleet.
    if (!sameMembers(this.tasks, health.capabilities.tasks)) this.tasks = new Set(health.capabilities.tasks)
    if (!sameMembers(this.models, health.capabilities.models))
      this.models = new Set(health.capabilities.models)
  }
}

function sameMembers(set: ReadonlySet<string>, list: readonly string[]): boolean {
  if (set.size !== list.length) return false
  for (const item of list) if (!set.has(item)) return false
  return true
}
