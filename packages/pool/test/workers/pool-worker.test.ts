import type { HealthResponse } from '@npu-fleet/protocol'
import { describe, expect, it } from 'vitest'
import { defaultLoadBalancing, parsePoolConfig } from '../../src/config/pool-config.js'
import { RoutedNeeds } from '../../src/dispatch/routed-needs.js'
import { PoolWorker } from '../../src/workers/pool-worker.js'

// A real PoolWorker's per-need parallelism (what selection divides the work in flight by), memoised by need
// index and re-read when its /health figures change.

function health(capacity: number, models: Record<string, number>): HealthResponse {
  return {
    status: 'healthy',
    service: 'npu-worker',
    version: '1',
    protocol_version: 1,
    capabilities: {
      device: 'CPU',
      available: false,
      backend: 'onnxruntime',
      devices: ['CPU'],
      fallback_reason: null,
      openvino: { loaded: false, version: null, error: null },
      tasks: ['ocr', 'text_analysis'],
      models: Object.keys(models),
    },
    models: Object.entries(models).map(([name, live]) => ({
      name,
      version: '1',
      state: 'ready',
      ready: true,
      backend: 'onnxruntime',
      device: 'CPU',
      preferred_device: 'CPU',
      fallback: false,
      fallback_chain: [],
      error: null,
      parallelism: { configured: live, loaded: live, live, reason: null },
    })),
    load: { active: 0, queued: 0, capacity, queue_capacity: 64 },
    uptime_seconds: 1,
  }
}

describe('PoolWorker.parallelismFor', () => {
  const entry = parsePoolConfig(
    { workers: [{ id: 'w', url: 'http://127.0.0.1:9', enabled: true }] },
    { env: {} },
  ).workers[0]!
  const thresholds = { healthyThreshold: 1, unhealthyThreshold: 1 }

  it("answers the need's model's slots, else the worker's capacity, and follows changes", () => {
    const w = new PoolWorker(entry, defaultLoadBalancing(), { random: () => 0 })
    const needs = new RoutedNeeds()
    const mlp = needs.model('mlp', undefined)
    const chat = needs.generation('chat', 'llm')
    const ocr = needs.task('ocr')
    const analysis = needs.task('text_analysis', 'llm')
    // Before any /health: 1.
    expect(w.parallelismFor(mlp)).toBe(1)
    w.health.record({ kind: 'serving', health: health(4, { mlp: 2, llm: 8 }), latencyMs: 1 }, thresholds, 1)
    expect([
      w.parallelismFor(mlp),
      w.parallelismFor(chat),
      w.parallelismFor(ocr),
      w.parallelismFor(analysis),
    ]).toEqual([2, 8, 4, 8])
    // Memoised answers are dropped when the figures change.
    w.health.record({ kind: 'serving', health: health(6, { mlp: 3, llm: 8 }), latencyMs: 1 }, thresholds, 2)
    expect([w.parallelismFor(mlp), w.parallelismFor(ocr), w.parallelismFor(chat)]).toEqual([3, 6, 8])
    // A need past the memo (index -1) is looked up each time, with the same answer.
    expect(w.parallelismFor({ kind: 'model', name: 'mlp', index: -1 })).toBe(3)
    expect(w.parallelismFor({ kind: 'model', name: 'unknown', index: -1 })).toBe(6)
  })
})
