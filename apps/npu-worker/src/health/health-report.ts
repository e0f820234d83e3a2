import {
  type BackendName,
  type HealthResponse,
  type HealthStatus,
  type Load,
  type ModelHealth,
  PROTOCOL_VERSION,
} from '@npu-fleet/protocol'
import type { BackendProbe } from '../backends/backend.js'
import type { LifecycleState } from '../plugins/lifecycle.js'

/** Everything the health report is computed from. */
export interface HealthInputs {
  lifecycle: LifecycleState
  version: string
  uptimeSeconds: number
  models: ModelHealth[]
  probes: Record<BackendName, BackendProbe> | null
  load: Load
  tasks: string[]
}

const DEVICE_RANK = ['NPU', 'GPU', 'CPU']

/** Lower is better; `GPU.1` ranks as `GPU`, unknown devices after the CPU. */
function deviceRank(device: string): number {
  const rank = DEVICE_RANK.indexOf(device.split('.')[0] ?? device)
  return rank === -1 ? DEVICE_RANK.length : rank
}

function overallStatus(
  lifecycle: LifecycleState,
  models: ModelHealth[],
): { status: HealthStatus; message: string } {
  if (lifecycle === 'starting') return { status: 'starting', message: 'models are loading' }
  if (lifecycle === 'draining')
    return { status: 'draining', message: 'shutting down; finishing in-flight requests' }
  const ready = models.filter((m) => m.ready)
  if (ready.length === 0) {
    return {
      status: 'unhealthy',
      message: models.length === 0 ? 'no models in the repository' : 'no model is ready',
    }
  }
  const failed = models.filter((m) => m.state === 'failed')
  const onFallback = ready.filter((m) => m.fallback)
  // Both reasons are listed: an operator reading the message should not have to fix one to learn the other.
  const reasons = [
    failed.length > 0
      ? `models failed to load: ${failed.map((m) => `${m.name}:${m.version}`).join(', ')}`
      : null,
    onFallback.length > 0
      ? `serving on a fallback: ${onFallback.map((m) => `${m.name}:${m.version} on ${m.backend}/${m.device}`).join(', ')}`
      : null,
  ].filter((r): r is string => r !== null)
  if (reasons.length > 0) return { status: 'degraded', message: reasons.join('; ') }
  return { status: 'healthy', message: 'every model runs on its preferred device' }
}

/**
 * The truthful `/health` body: `healthy` only when every model runs on its preferred device, `degraded`
 * when serving on a fallback or with failed models, `unhealthy` when nothing can serve, `starting` and
 * `draining` around the serving life. Pure: computed from state, never cached.
 */
export function buildHealthReport(input: HealthInputs): HealthResponse {
  const { status, message } = overallStatus(input.lifecycle, input.models)
  const ready = input.models.filter((m) => m.ready)
  const best = ready
    .map((m) => ({ device: m.device ?? 'CPU', backend: m.backend }))
    .sort((a, b) => deviceRank(a.device) - deviceRank(b.device))[0]
  const ov = input.probes?.openvino ?? null
  const ortDevices = input.probes?.onnxruntime.available ? input.probes.onnxruntime.devices : []
  // The first step that failed says why the worker is not where it wanted to be (usually the NPU runtime).
  const firstFallback = input.models.find((m) => m.fallback_chain.length > 0)?.fallback_chain[0]
  return {
    status,
    service: 'npu-worker',
    version: input.version,
    protocol_version: PROTOCOL_VERSION,
    capabilities: {
      device: best?.device ?? 'none',
      available: ov?.available === true && ov.devices.includes('NPU'),
      backend: best?.backend ?? null,
      devices: [...new Set([...(ov?.devices ?? []), ...ortDevices])],
      fallback_reason: firstFallback?.reason ?? null,
      openvino: { loaded: ov?.available === true, version: ov?.version ?? null, error: ov?.error ?? null },
      tasks: input.tasks,
      models: [...new Set(ready.map((m) => m.name))],
    },
    models: input.models,
    load: input.load,
    uptime_seconds: Math.round(input.uptimeSeconds * 1000) / 1000,
    message,
  }
}

/** HTTP status of a health status: 200 while serving (healthy or degraded), 503 otherwise. */
export function healthHttpStatus(status: HealthStatus): 200 | 503 {
  return status === 'healthy' || status === 'degraded' ? 200 : 503
}
