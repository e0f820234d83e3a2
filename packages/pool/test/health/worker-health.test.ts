import type { HealthResponse } from '@npu-fleet/protocol'
import { describe, expect, it } from 'vitest'
import type { HealthProbeResult } from '../../src/health/health-probe.js'
import { HealthStanding } from '../../src/health/health-standing.js'
import { WorkerHealth } from '../../src/health/worker-health.js'

const body = (
  status: HealthResponse['status'],
  tasks: string[] = [],
  models: string[] = ['mlp'],
): HealthResponse => ({
  status,
  service: 'npu-worker',
  version: '1.2.3',
  protocol_version: 1,
  capabilities: {
    device: status === 'healthy' ? 'NPU' : 'CPU',
    available: status === 'healthy',
    backend: 'openvino',
    devices: ['CPU', 'NPU'],
    fallback_reason: null,
    openvino: { loaded: true, version: '2026.4', error: null },
    tasks,
    models,
  },
  models: [],
  load: { active: 1, queued: 2, capacity: 4, queue_capacity: 64 },
  uptime_seconds: 10,
})
const pass = (
  status: 'healthy' | 'degraded' = 'healthy',
  tasks?: string[],
  models?: string[],
): HealthProbeResult => ({ kind: 'serving', health: body(status, tasks, models), latencyMs: 2 })
const silent = (): HealthProbeResult => ({
  kind: 'silent',
  reason: 'no answer within 500 ms',
  latencyMs: 500,
})
const refused = (): HealthProbeResult => ({
  kind: 'unreachable',
  reason: 'connection refused (ECONNREFUSED)',
  latencyMs: 1,
})
const impostor = (reason = 'HTTP 200: not an npu-worker (service "billing-api")'): HealthProbeResult => ({
  kind: 'incompatible',
  reason,
  latencyMs: 1,
})
const notServing = (status: 'starting' | 'draining' | 'unhealthy'): HealthProbeResult => ({
  kind: 'not_serving',
  health: body(status),
  reason: `HTTP 503 (${status})`,
  latencyMs: 1,
})

const thresholds = { unhealthyThreshold: 2, healthyThreshold: 2 }

describe('WorkerHealth', () => {
  it('is out until checked; the first check decides at once', () => {
    const up = new WorkerHealth()
    expect([up.up, up.standing, up.trusted, up.lastCheckAt, up.state, up.parallelism]).toEqual([
      false,
      HealthStanding.OUT,
      false,
      null,
      { kind: 'unchecked' },
      1,
    ])
    expect(up.record(pass('healthy', ['ocr']), thresholds, 1000)).toBe('up')
    expect([up.up, up.standing, up.trusted, up.status, up.lastCheckAt, up.protocolVersion]).toEqual([
      true,
      HealthStanding.HEALTHY,
      true,
      'healthy',
      1000,
      1,
    ])
    expect([...up.tasks]).toEqual(['ocr'])
    expect([...up.models]).toEqual(['mlp'])
    expect(up.load).toEqual({ active: 1, queued: 2, capacity: 4, queue_capacity: 64 })
    // Selection drains the work in flight by the worker's capacity (its live slots).
    expect(up.parallelism).toBe(4)
    const down = new WorkerHealth()
    expect(down.record(refused(), thresholds, 1000)).toBeNull()
    expect([down.up, down.lastError, down.totalFailures, down.state]).toEqual([
      false,
      'connection refused (ECONNREFUSED)',
      1,
      { kind: 'down', cause: 'unreachable' },
    ])
  })

  it('needs unhealthy_threshold silent checks (or 503s) to go down, and healthy_threshold passes to come back', () => {
    const h = new WorkerHealth()
    h.record(pass(), thresholds, 1)
    expect(h.record(silent(), thresholds, 2)).toBeNull()
    // One slow probe: still up, and still trusted (no answer is no news about who listens there).
    expect([h.up, h.trusted, h.standing]).toEqual([true, true, HealthStanding.HEALTHY])
    expect(h.record(pass(), thresholds, 3)).toBeNull()
    expect(h.record(notServing('draining'), thresholds, 4)).toBeNull()
    expect([h.up, h.status]).toEqual([true, 'draining'])
    expect(h.record(silent(), thresholds, 5)).toBe('down')
    // Down by silence, identity intact: the ejection cap may still route to it.
    expect([h.up, h.standing, h.consecutiveFailures, h.totalFailures]).toEqual([
      false,
      HealthStanding.SILENT,
      2,
      3,
    ])
    expect(h.record(pass('degraded'), thresholds, 6)).toBeNull()
    expect(h.up).toBe(false)
    expect(h.record(pass('degraded'), thresholds, 7)).toBe('up')
    expect([h.up, h.standing, h.status, h.lastError]).toEqual([
      true,
      HealthStanding.DEGRADED,
      'degraded',
      null,
    ])
  })

  it('takes a worker out at once when its listener vanishes, and trusts it again only after a valid answer', () => {
    const h = new WorkerHealth()
    h.record(pass(), thresholds, 1)
    expect(h.record(refused(), thresholds, 2)).toBe('down')
    expect([h.up, h.trusted, h.standing]).toEqual([false, false, HealthStanding.OUT])
    // Silence after that proves nothing: still out (never SILENT without a trusted identity).
    h.record(silent(), thresholds, 3)
    expect([h.trusted, h.standing]).toEqual([false, HealthStanding.OUT])
    h.record(pass(), thresholds, 4)
    expect(h.trusted).toBe(true)
    expect(h.record(pass(), thresholds, 5)).toBe('up')
  })

  it('refuses at once, whatever the thresholds, a worker that answers as something else', () => {
    const h = new WorkerHealth()
    h.record(pass(), thresholds, 1)
    expect(h.record(impostor(), thresholds, 2)).toBe('refused')
    expect([h.up, h.trusted, h.standing, h.refused]).toEqual([
      false,
      false,
      HealthStanding.OUT,
      'HTTP 200: not an npu-worker (service "billing-api")',
    ])
    // Refused once per episode (the pool logs the transition, not every round).
    expect(h.record(impostor('HTTP 200 with a body that is not JSON'), thresholds, 3)).toBeNull()
    expect(h.refused).toBe('HTTP 200 with a body that is not JSON')
    const never = new WorkerHealth()
    expect(
      never.record(impostor('HTTP 200: protocol_version 99 is not one this pool speaks (1)'), thresholds, 1),
    ).toBe('refused')
    expect(never.state).toEqual({ kind: 'down', cause: 'incompatible' })
  })

  it('follows status and capability changes while up, and keeps the worker status of a failed check', () => {
    const h = new WorkerHealth()
    h.record(pass('healthy', ['ocr']), thresholds, 1)
    const tasksBefore = h.tasks
    const version = h.capabilitiesVersion
    h.record(pass('healthy', ['ocr']), thresholds, 2)
    expect(h.tasks).toBe(tasksBefore)
    expect(h.capabilitiesVersion).toBe(version)
    h.record(pass('degraded', ['ocr', 'embeddings'], []), thresholds, 3)
    expect([h.standing, [...h.tasks], [...h.models]]).toEqual([
      HealthStanding.DEGRADED,
      ['ocr', 'embeddings'],
      [],
    ])
    // Memoised `serves` answers are invalidated by this bump.
    expect(h.capabilitiesVersion).toBeGreaterThan(version)
    h.record(notServing('draining'), thresholds, 4)
    expect(h.status).toBe('draining')
  })

  it('keeps the last body a compatible npu-worker answered, serving or not, and names its state in one word', () => {
    const h = new WorkerHealth()
    expect(h.label).toBe('unchecked')
    expect(h.lastReport).toBeNull()
    h.record(pass('healthy'), thresholds, 1000)
    expect(h.label).toBe('healthy')
    expect(h.lastReport).toMatchObject({ at: 1000, body: { status: 'healthy' } })
    h.record(pass('degraded'), thresholds, 2000)
    expect(h.label).toBe('degraded')
    // A draining worker's own 503 body is kept: its message says why it does not serve.
    h.record(notServing('draining'), thresholds, 3000)
    h.record(notServing('draining'), thresholds, 4000)
    expect(h.label).toBe('down')
    expect(h.lastReport).toMatchObject({ at: 4000, body: { status: 'draining' } })
    // No answer, or another service: the last npu-worker body stays as it was.
    h.record(refused(), thresholds, 5000)
    expect(h.lastReport?.at).toBe(4000)
    h.record(impostor(), thresholds, 6000)
    expect(h.label).toBe('refused')
    expect(h.lastReport?.at).toBe(4000)
  })
})
