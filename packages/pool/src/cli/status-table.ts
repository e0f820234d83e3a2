import type { WorkerSnapshot } from '../pool-types.js'

/** One row of `npu-pool status`. */
export interface StatusRow {
  worker: WorkerSnapshot
  /** Median health round trip over the samples taken, in ms, or null when none answered. */
  p50Ms: number | null
}

/** Health column: the worker's own status when up, `refused` (not a compatible npu-worker), `down` or `disabled`. */
export function healthLabel(worker: WorkerSnapshot): string {
  if (!worker.enabled) return 'disabled'
  if (worker.refused !== null) return 'refused'
  if (!worker.healthy) return 'down'
  return worker.healthStatus ?? 'up'
}

/**
 * Renders the status table (id, url, priority, health, circuit, active, p50 latency, and the median time to first
 * token and tokens/s of the streams this pool ran there), then one line per
 * worker that is down saying why.
 */
export function formatStatusTable(rows: readonly StatusRow[]): string {
  const header = ['ID', 'URL', 'PRIORITY', 'HEALTH', 'CIRCUIT', 'ACTIVE', 'P50', 'TTFT', 'TOK/S']
  const cells = rows.map(({ worker: w, p50Ms }) => [
    w.id,
    w.url,
    String(w.priority),
    healthLabel(w),
    w.circuitState,
    w.workerLoad ? `${w.workerLoad.active}/${w.workerLoad.capacity}` : '-',
    p50Ms === null ? '-' : `${p50Ms.toFixed(1)} ms`,
    w.generation.timeToFirstTokenMs.p50 === null
      ? '-'
      : `${w.generation.timeToFirstTokenMs.p50.toFixed(1)} ms`,
    w.generation.tokensPerSecond.p50 === null ? '-' : w.generation.tokensPerSecond.p50.toFixed(0),
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((row) => (row[i] as string).length)))
  const line = (row: readonly string[]) =>
    row
      .map((cell, i) => cell.padEnd(widths[i] as number))
      .join('  ')
      .trimEnd()
  const out = [line(header), ...cells.map(line)]
  const reasons = rows.filter((r) => r.worker.enabled && !r.worker.healthy)
  if (reasons.length > 0) {
    out.push('')
    for (const { worker } of reasons) out.push(`${worker.id}: ${worker.lastHealthError ?? 'not checked'}`)
  }
  return `${out.join('\n')}\n`
}

/** Median of `values` (null when empty). */
export function median(values: readonly number[]): number | null {
  if (values.length === 0) return null
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}
