import type { SelfTestHealth } from '@npu-fleet/protocol'
import type { SelfTestRecord } from './self-test.js'

/** A self-test record in `/health` terms. */
export function selfTestHealth(record: SelfTestRecord): SelfTestHealth {
  return {
    result: record.result,
    at: new Date(record.at).toISOString(),
    reference: record.reference,
    precision: record.precision,
    tolerance: record.tolerance,
    max_abs_error:
      record.maxAbsError !== null && Number.isFinite(record.maxAbsError) ? record.maxAbsError : null,
    mismatches: record.mismatches,
    elements: record.elements,
    duration_ms: record.durationMs === null ? null : Math.round(record.durationMs * 1000) / 1000,
    message: record.message,
  }
}
