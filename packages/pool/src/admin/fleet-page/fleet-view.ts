import { type FleetRow, type FleetView, FleetViewSchema, type HealthResponse } from '@npu-fleet/protocol'
import type { PoolStats, WorkerHealthReport, WorkerSnapshot } from '../../pool-types.js'

/** What the fleet page reads from a pool (an `NpuWorkerPool` fits). */
export interface FleetSource {
  getStats(): PoolStats
  getWorkers(): WorkerSnapshot[]
  workerHealthReport(id: string): WorkerHealthReport | null
}

/**
 * Models whose last self-test drifted out of tolerance, as `name:version`, from the last `/health` body; only
 * while the worker is up, so a stale body (a worker down since) never raises it.
 */
function driftingModels(w: WorkerSnapshot, body: HealthResponse | null): string[] {
  const up = w.healthState === 'healthy' || w.healthState === 'degraded'
  if (!up || !body) return []
  return body.models.filter((m) => m.self_test?.result === 'drift').map((m) => `${m.name}:${m.version}`)
}

/**
 * Why a worker's row needs attention, one line each (empty: it does not): down or refused, degraded (with
 * the worker's own message), a circuit not closed, output drift.
 */
export function attentionOf(w: WorkerSnapshot, body: HealthResponse | null): string[] {
  const reasons: string[] = []
  if (w.healthState === 'down') reasons.push(`down: ${w.lastHealthError ?? 'its health checks fail'}`)
  if (w.healthState === 'refused')
    reasons.push(`refused: ${w.refused ?? w.lastHealthError ?? 'not an npu-worker'}`)
  if (w.healthState === 'degraded') reasons.push(`degraded: ${body?.message ?? 'serving, not fully'}`)
  if (w.circuitState === 'open') reasons.push('circuit open: its tasks failed, traffic goes elsewhere')
  if (w.circuitState === 'half_open') reasons.push('circuit half-open: one probe request allowed')
  const drifting = driftingModels(w, body)
  if (drifting.length > 0) reasons.push(`output drift: ${drifting.join(', ')}`)
  return reasons
}

/** One row of the page from a worker's snapshot and its last `/health` body. */
function fleetRow(w: WorkerSnapshot, report: WorkerHealthReport | null): FleetRow {
  const body = report?.body ?? null
  return {
    id: w.id,
    url: w.url,
    priority: w.priority,
    enabled: w.enabled,
    health: w.healthState,
    attention: attentionOf(w, body),
    status_message: body?.message ?? null,
    device: w.device,
    version: w.version,
    circuit_state: w.circuitState,
    active_tasks: w.activeTasks,
    max_concurrent_tasks: w.maxConcurrentTasks,
    worker_load: w.workerLoad,
    latency_ms: { samples: w.latency.samples, p50: w.latency.p50, p99: w.latency.p99 },
    models: w.models,
    drifting_models: driftingModels(w, body),
    last_health_check: w.lastHealthCheck,
    last_health_error: w.lastHealthError,
  }
}

/** The fleet at a glance: pool-wide figures and one row per configured worker, in config order. */
export function fleetView(source: FleetSource, refreshMs: number, now = Date.now()): FleetView {
  const stats = source.getStats()
  return FleetViewSchema.parse({
    generated_at: new Date(now).toISOString(),
    refresh_ms: refreshMs,
    stats: {
      total_workers: stats.totalWorkers,
      healthy_workers: stats.healthyWorkers,
      available_workers: stats.availableWorkers,
      active_tasks: stats.activeTasks,
      queued_tasks: stats.queuedTasks,
      success_rate: stats.successRate,
    },
    workers: source.getWorkers().map((w) => fleetRow(w, source.workerHealthReport(w.id))),
  })
}
