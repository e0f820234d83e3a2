import {
  type AbandonedCallHealth,
  type BackendName,
  type HealthResponse,
  type HealthStatus,
  type Load,
  type ModelHealth,
  PROTOCOL_VERSION,
  type SelfTestSummary,
  type ThreadPriorityHealth,
  type UnavailableTask,
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
  /** Registered tasks that cannot serve now, with the reason. */
  unavailableTasks?: UnavailableTask[]
  /** Native calls abandoned after their hard limit and still running. */
  abandonedCalls?: AbandonedCallHealth[]
  /** Self-test cadence and the last run (the per-model results are in `models`). */
  selfTests?: { intervalSeconds: number; lastRunAt: number | null }
  /** What the lowered threads found (threads/thread-priority-ledger.ts). */
  threadPriority?: ThreadPriorityHealth
}

const DEVICE_RANK = ['NPU', 'GPU', 'CPU']

/** The device's family: `GPU.1` is a `GPU`. */
function deviceFamily(device: string): string {
  return device.split('.')[0] ?? device
}

/** Lower is better; `GPU.1` ranks as `GPU`, unknown devices after the CPU. */
function deviceRank(device: string): number {
  const rank = DEVICE_RANK.indexOf(deviceFamily(device))
  return rank === -1 ? DEVICE_RANK.length : rank
}

const label = (m: ModelHealth) => `${m.name}:${m.version}`

function overallStatus(input: HealthInputs): { status: HealthStatus; message: string } {
  const { lifecycle, models } = input
  if (lifecycle === 'starting') return { status: 'starting', message: 'models are loading' }
  if (lifecycle === 'draining')
    return { status: 'draining', message: 'shutting down; finishing in-flight requests' }
  const ready = models.filter((m) => m.ready)
  const notServing = models
    .filter((m) => !m.ready)
    .map((m) => {
      const why = m.reason ?? m.error
      return `${label(m)} ${m.state}${why ? ` (${why})` : ''}`
    })
  if (ready.length === 0) {
    return {
      status: 'unhealthy',
      message:
        models.length === 0 ? 'no models in the repository' : `no model can serve: ${notServing.join('; ')}`,
    }
  }
  const failed = models.filter((m) => m.state === 'failed')
  const recovering = models.filter((m) => m.state === 'recovering')
  const degraded = models.filter((m) => m.state === 'degraded')
  // Loaded while serving (a repository load, a new version): not serving yet, so not every model serves fully.
  const pending = models.filter((m) => m.state === 'loading' || m.state === 'warming')
  const onFallback = ready.filter((m) => m.fallback)
  const tasks = input.unavailableTasks ?? []
  const abandoned = input.abandonedCalls ?? []
  // Every reason is listed: an operator reading the message should not have to fix one to learn the next.
  const reasons = [
    failed.length > 0 ? `models failed to load: ${failed.map(label).join(', ')}` : null,
    recovering.length > 0
      ? `models recovering: ${recovering.map((m) => `${label(m)} (${m.reason})`).join('; ')}`
      : null,
    pending.length > 0
      ? `models not serving yet: ${pending.map((m) => `${label(m)} ${m.state}`).join(', ')}`
      : null,
    degraded.length > 0
      ? `models degraded: ${degraded.map((m) => `${label(m)} (${m.reason})`).join('; ')}`
      : null,
    onFallback.length > 0
      ? `serving on a fallback: ${onFallback.map((m) => `${label(m)} on ${m.backend}/${m.device}`).join(', ')}`
      : null,
    tasks.length > 0 ? `tasks cannot serve: ${tasks.map((t) => `${t.type} (${t.reason})`).join('; ')}` : null,
    abandoned.length > 0
      ? `native inferences abandoned after their hard limit and still running: ${abandoned.map((c) => `${c.model}:${c.version} on ${c.thread}`).join(', ')}`
      : null,
  ].filter((r): r is string => r !== null)
  if (reasons.length > 0) return { status: 'degraded', message: reasons.join('; ') }
  return { status: 'healthy', message: 'every model serves fully on its preferred device' }
}

function selfTestSummary(
  models: readonly ModelHealth[],
  selfTests: NonNullable<HealthInputs['selfTests']>,
): SelfTestSummary {
  const count = (result: string) => models.filter((m) => m.self_test?.result === result).length
  return {
    interval_seconds: selfTests.intervalSeconds,
    last_run_at: selfTests.lastRunAt === null ? null : new Date(selfTests.lastRunAt).toISOString(),
    passed: count('pass'),
    drifted: count('drift'),
    failed: count('error'),
    no_reference: count('no_reference'),
  }
}

/**
 * The truthful `/health` body: `healthy` only when every model serves fully on its preferred device, `degraded`
 * when serving but on a fallback, with a model impaired, recovering, drifting or failed, with a task that
 * cannot serve, or with native work stuck; `unhealthy` when nothing can serve; `starting` and `draining` around
 * the serving life. Pure: computed from state, never cached.
 */
export function buildHealthReport(input: HealthInputs): HealthResponse {
  const { status, message } = overallStatus(input)
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
      // An NPU that is listed but serves nothing (every compile failed) is not available.
      available: ready.some((m) => m.backend === 'openvino' && deviceFamily(m.device ?? '') === 'NPU'),
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
    ...(input.selfTests ? { self_test: selfTestSummary(input.models, input.selfTests) } : {}),
    abandoned_calls: input.abandonedCalls ?? [],
    unavailable_tasks: input.unavailableTasks ?? [],
    ...(input.threadPriority ? { thread_priority: input.threadPriority } : {}),
  }
}

/** HTTP status of a health status: 200 while serving (healthy or degraded), 503 otherwise. */
export function healthHttpStatus(status: HealthStatus): 200 | 503 {
  return status === 'healthy' || status === 'degraded' ? 200 : 503
}
