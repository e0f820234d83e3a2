import type { DoctorReport } from '@npu-fleet/protocol'

/** The report as a plain-text table (no colours, no box drawing: the deploy role prints it into its log). */
export function renderDoctorTable(report: DoctorReport): string {
  const idWidth = Math.max(5, ...report.checks.map((c) => c.id.length))
  const lines = [
    `npu-worker doctor ${report.worker_version} on ${report.hostname}${report.require_npu ? ' (NPU required)' : ''}`,
    '',
    `${'STATUS'.padEnd(6)}  ${'CHECK'.padEnd(idWidth)}  DETAIL`,
    ...report.checks.map((c) => `${c.status.toUpperCase().padEnd(6)}  ${c.id.padEnd(idWidth)}  ${c.detail}`),
    '',
    report.ready
      ? `READY${report.checks.some((c) => c.status === 'warn') ? ' (with warnings)' : ''}`
      : `NOT READY: ${report.problems.length} problem(s)`,
  ]
  return `${lines.join('\n')}\n`
}
