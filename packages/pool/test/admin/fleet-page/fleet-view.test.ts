import type { HealthResponse } from '@npu-fleet/protocol'
import { describe, expect, it } from 'vitest'
import { attentionOf, fleetView } from '../../../src/admin/fleet-page/fleet-view.js'
import type { PoolStats, WorkerSnapshot } from '../../../src/pool-types.js'

// Which rows stand out and why, from snapshots written by hand (the routes and browser tests take them from
// real workers).

function snapshot(over: Partial<WorkerSnapshot> = {}): WorkerSnapshot {
  return {
    id: 'vm2',
    url: 'http://127.0.0.1:8081',
    priority: 5,
    enabled: true,
    maxConcurrentTasks: 4,
    healthy: true,
    healthStatus: 'healthy',
    healthState: 'healthy',
    circuitState: 'closed',
    circuitCooldownMs: null,
    activeTasks: 0,
    totalRequests: 0,
    successes: 0,
    failures: 0,
    rejected: 0,
    deferred: 0,
    routedWhileEjected: 0,
    healthFailures: 0,
    consecutiveHealthFailures: 0,
    lastHealthCheck: '2026-01-01T00:00:00.000Z',
    lastHealthCheckAt: 1_767_225_600_000,
    lastHealthError: null,
    protocolVersion: 1,
    refused: null,
    lastHealthLatencyMs: 1,
    latency: { samples: 0, p50: null, p95: null, p99: null },
    latencyEstimateMs: null,
    slowStart: null,
    tasks: [],
    models: ['mlp'],
    device: 'NPU',
    version: '1.0.0',
    workerLoad: null,
    activeSequences: 0,
    generation: {
      completed: 0,
      interrupted: 0,
      tokens: 0,
      timeToFirstTokenMs: { samples: 0, p50: null, p95: null, p99: null },
      tokensPerSecond: { samples: 0, p50: null, p95: null, p99: null },
    },
    ...over,
  }
}

/** A health body with one model whose last self-test had `result`. */
function body(result: 'pass' | 'drift', message = 'ok'): HealthResponse {
  return {
    status: result === 'drift' ? 'degraded' : 'healthy',
    service: 'npu-worker',
    version: '1.0.0',
    capabilities: {
      device: 'NPU',
      available: true,
      backend: 'openvino',
      devices: ['NPU'],
      fallback_reason: null,
      openvino: { loaded: true, version: '2026', error: null },
      tasks: [],
      models: ['mlp'],
    },
    models: [
      {
        name: 'mlp',
        version: '1',
        state: result === 'drift' ? 'degraded' : 'ready',
        ready: true,
        backend: 'openvino',
        device: 'NPU',
        preferred_device: 'NPU',
        fallback: false,
        fallback_chain: [],
        error: null,
        self_test: {
          result,
          at: '2026-01-01T00:00:00.000Z',
          reference: 'onnxruntime_cpu',
          precision: 'FP16',
          tolerance: { atol: 0.03, rtol: 0.01 },
          max_abs_error: result === 'drift' ? 0.5 : 0.001,
          mismatches: result === 'drift' ? 16 : 0,
          elements: 16,
          duration_ms: 1,
          message: 'm',
        },
      },
    ],
    load: { active: 0, queued: 0, capacity: 1, queue_capacity: 64 },
    uptime_seconds: 1,
    message,
  }
}

describe('attentionOf', () => {
  it('is empty for a healthy worker with a closed circuit and no drift', () => {
    expect(attentionOf(snapshot(), body('pass'))).toEqual([])
  })

  it('says down with the last health error, refused with the reason', () => {
    expect(
      attentionOf(
        snapshot({ healthState: 'down', healthy: false, lastHealthError: 'connection refused' }),
        null,
      ),
    ).toEqual(['down: connection refused'])
    expect(
      attentionOf(snapshot({ healthState: 'refused', refused: 'protocol_version 9 not spoken' }), null),
    ).toEqual(['refused: protocol_version 9 not spoken'])
  })

  it("says degraded with the worker's own message, and names drifting models", () => {
    expect(
      attentionOf(snapshot({ healthState: 'degraded' }), body('drift', 'models degraded: mlp:1')),
    ).toEqual(['degraded: models degraded: mlp:1', 'output drift: mlp:1'])
  })

  it('flags an open and a half-open circuit', () => {
    expect(attentionOf(snapshot({ circuitState: 'open' }), null)).toEqual([
      'circuit open: its tasks failed, traffic goes elsewhere',
    ])
    expect(attentionOf(snapshot({ circuitState: 'half_open' }), null)).toEqual([
      'circuit half-open: one probe request allowed',
    ])
  })

  it('never raises drift from the stale body of a worker that is down', () => {
    const down = snapshot({
      healthState: 'down',
      healthy: false,
      lastHealthError: 'no answer within 5000 ms',
    })
    expect(attentionOf(down, body('drift'))).toEqual(['down: no answer within 5000 ms'])
  })
})

describe('fleetView', () => {
  it('has the stats and one row per worker in config order, valid against the protocol schema', () => {
    const stats = {
      totalWorkers: 2,
      healthyWorkers: 1,
      availableWorkers: 1,
      activeTasks: 3,
      queuedTasks: 0,
      successRate: 0.5,
    } as PoolStats
    const workers = [snapshot({ id: 'b' }), snapshot({ id: 'a', healthState: 'down', healthy: false })]
    const view = fleetView(
      {
        getStats: () => stats,
        getWorkers: () => workers,
        workerHealthReport: (id) => ({ id, body: id === 'b' ? body('drift') : null, receivedAt: 1 }),
      },
      500,
      Date.UTC(2026, 0, 1),
    )
    expect(view.generated_at).toBe('2026-01-01T00:00:00.000Z')
    expect(view.refresh_ms).toBe(500)
    expect(view.stats).toEqual({
      total_workers: 2,
      healthy_workers: 1,
      available_workers: 1,
      active_tasks: 3,
      queued_tasks: 0,
      success_rate: 0.5,
    })
    expect(view.workers.map((w) => [w.id, w.health, w.drifting_models])).toEqual([
      ['b', 'healthy', ['mlp:1']],
      ['a', 'down', []],
    ])
  })
})
