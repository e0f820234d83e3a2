import type { HealthResponse } from '@npu-fleet/protocol'
import { describe, expect, it } from 'vitest'
import type { HealthProbeResult } from '../../src/health/health-probe.js'
import { WorkerHealth } from '../../src/health/worker-health.js'

const body = (
  status: 'healthy' | 'degraded',
  tasks: string[] = [],
  models: string[] = ['mlp'],
): HealthResponse => ({
  status,
  service: 'npu-worker',
  version: '1.2.3',
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
): HealthProbeResult => ({
  ok: true,
  health: body(status, tasks, models),
  latencyMs: 2,
})
const fail = (reason = 'connection refused (ECONNREFUSED)'): HealthProbeResult => ({
  ok: false,
  reason,
  status: null,
  latencyMs: 1,
})

const thresholds = { unhealthyThreshold: 2, healthyThreshold: 2 }

describe('WorkerHealth', () => {
  it('is down until checked; the first check decides at once', () => {
    const up = new WorkerHealth()
    expect([up.up, up.rank, up.lastCheckAt]).toEqual([false, -1, null])
    expect(up.record(pass('healthy', ['ocr']), thresholds, 1000)).toBe('up')
    expect([up.up, up.rank, up.status, up.lastCheckAt]).toEqual([true, 0, 'healthy', 1000])
    expect([...up.tasks]).toEqual(['ocr'])
    expect([...up.models]).toEqual(['mlp'])
    expect(up.load).toEqual({ active: 1, queued: 2, capacity: 4, queue_capacity: 64 })
    const down = new WorkerHealth()
    expect(down.record(fail(), thresholds, 1000)).toBeNull()
    expect([down.up, down.lastError, down.totalFailures]).toEqual([
      false,
      'connection refused (ECONNREFUSED)',
      1,
    ])
  })

  it('needs unhealthy_threshold consecutive failures to go down and healthy_threshold passes to come back', () => {
    const h = new WorkerHealth()
    h.record(pass(), thresholds, 1)
    expect(h.record(fail(), thresholds, 2)).toBeNull()
    expect(h.up).toBe(true)
    expect(h.record(pass(), thresholds, 3)).toBeNull()
    expect(h.record(fail(), thresholds, 4)).toBeNull()
    expect(h.record(fail(), thresholds, 5)).toBe('down')
    expect([h.up, h.rank, h.consecutiveFailures, h.totalFailures]).toEqual([false, -1, 2, 3])
    expect(h.record(pass('degraded'), thresholds, 6)).toBeNull()
    expect(h.up).toBe(false)
    expect(h.record(pass('degraded'), thresholds, 7)).toBe('up')
    expect([h.up, h.rank, h.status, h.lastError]).toEqual([true, 1, 'degraded', null])
  })

  it('follows status and capability changes while up, and keeps the worker status of a failed check', () => {
    const h = new WorkerHealth()
    h.record(pass('healthy', ['ocr']), thresholds, 1)
    const tasksBefore = h.tasks
    h.record(pass('healthy', ['ocr']), thresholds, 2)
    expect(h.tasks).toBe(tasksBefore)
    h.record(pass('degraded', ['ocr', 'embeddings'], []), thresholds, 3)
    expect([h.rank, [...h.tasks], [...h.models]]).toEqual([1, ['ocr', 'embeddings'], []])
    h.record({ ok: false, reason: 'HTTP 503 (draining)', status: 'draining', latencyMs: 1 }, thresholds, 4)
    expect(h.status).toBe('draining')
  })
})
