// The read-only views the pool hands out: getStats() and getWorkers() (the admin routes and the CLI build on them).
import type { PoolStats, WorkerHealthReport, WorkerSnapshot } from '../pool-types.js'
import type { PoolCounters } from '../stats/pool-counters.js'
import type { PoolWorker } from '../workers/pool-worker.js'

/** What {@link poolStats} reads besides the counters. */
export interface FleetView {
  workers: readonly PoolWorker[]
  draining: ReadonlySet<PoolWorker>
  queuedTasks: number
  /** Priority tiers past their ejection cap now. */
  panickingTiers: number[]
}

/** `getStats()`: pool-wide counters and gauges (a snapshot; reading it changes nothing). */
export function poolStats(counters: PoolCounters, fleet: FleetView): PoolStats {
  const s = counters
  const finished = s.succeeded + s.failed
  let healthy = 0
  let available = 0
  let active = 0
  for (const w of fleet.workers) {
    active += w.slots.activeTasks
    if (!w.enabled || !w.health.up) continue
    healthy++
    if (w.breaker.state !== 'open') available++
  }
  for (const w of fleet.draining) active += w.slots.activeTasks
  return {
    totalWorkers: fleet.workers.length,
    healthyWorkers: healthy,
    availableWorkers: available,
    drainingWorkers: fleet.draining.size,
    activeTasks: active,
    queuedTasks: fleet.queuedTasks,
    totalTasksProcessed: finished,
    successRate: finished === 0 ? 1 : s.succeeded / finished,
    tasks: { started: s.started, succeeded: s.succeeded, failed: s.failed, inProgress: s.started - finished },
    attempts: {
      total: s.attempts,
      failed: s.failedAttempts,
      retries: s.retries,
      retriesDeniedByBudget: s.retriesDenied,
    },
    ejectionCap: {
      panickingTiers: fleet.panickingTiers,
      panics: s.panics,
      routedWhileEjected: s.routedWhileEjected,
    },
    failuresByCode: { ...s.failuresByCode },
    byTask: Object.fromEntries([...s.byNeed].map(([key, counts]) => [key, { ...counts }])),
  }
}

/** One `getWorkers()` entry (never includes a token). */
export function workerSnapshot(w: PoolWorker, now: number): WorkerSnapshot {
  const h = w.health
  const c = w.traffic.counters()
  const estimate = w.latency.overall(now)
  const share = w.warmup.factor(now)
  return {
    id: w.id,
    url: w.entry.url,
    priority: w.priority,
    enabled: w.enabled,
    maxConcurrentTasks: w.slots.maxConcurrentTasks,
    healthy: h.up,
    healthStatus: h.status,
    healthState: h.label,
    circuitState: w.breaker.state,
    circuitCooldownMs: w.breaker.cooldownMs,
    activeTasks: w.slots.activeTasks,
    totalRequests: c.requests,
    successes: c.successes,
    failures: c.failures,
    rejected: c.rejected,
    deferred: c.deferred,
    routedWhileEjected: c.routedWhileEjected,
    healthFailures: h.totalFailures,
    consecutiveHealthFailures: h.consecutiveFailures,
    lastHealthCheck: h.lastCheckAt === null ? null : new Date(h.lastCheckAt).toISOString(),
    lastHealthCheckAt: h.lastCheckAt,
    lastHealthError: h.lastError,
    protocolVersion: h.protocolVersion,
    refused: h.refused,
    lastHealthLatencyMs: h.lastLatencyMs,
    latency: w.traffic.latency(),
    latencyEstimateMs: estimate > 0 ? estimate : null,
    slowStart: share < 1 ? share : null,
    tasks: [...h.tasks].sort(),
    models: [...h.models].sort(),
    device: h.device,
    version: h.version,
    workerLoad: h.load,
    activeSequences: w.sequences.active,
    generation: w.generation.summary(),
  }
}

/** One worker's last `/health` body (`workerHealthReport(id)`). */
export function workerHealthReport(w: PoolWorker): WorkerHealthReport {
  const report = w.health.lastReport
  return { id: w.id, body: report?.body ?? null, receivedAt: report?.at ?? null }
}
