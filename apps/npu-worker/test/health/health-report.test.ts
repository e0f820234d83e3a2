import { HealthResponseSchema, type ModelHealth } from '@npu-fleet/protocol'
import { describe, expect, it } from 'vitest'
import type { BackendProbe } from '../../src/backends/backend.js'
import { buildHealthReport, type HealthInputs, healthHttpStatus } from '../../src/health/health-report.js'

const OV_MISSING = "OpenVINO runtime unavailable: Cannot find module '../bin/ov_node_addon.node'"

const probes = {
  noOpenvino: {
    openvino: {
      available: false,
      version: null,
      devices: [],
      error: "Cannot find module '../bin/ov_node_addon.node'",
    },
    onnxruntime: { available: true, version: '1.30.0', devices: ['CPU'], error: null },
  },
  npuHost: {
    openvino: { available: true, version: '2026.0.0', devices: ['CPU', 'GPU', 'NPU'], error: null },
    onnxruntime: { available: true, version: '1.30.0', devices: ['CPU'], error: null },
  },
} satisfies Record<string, Record<'openvino' | 'onnxruntime', BackendProbe>>

/** A model on its preferred device (OpenVINO on the NPU). */
function onNpu(name: string): ModelHealth {
  return {
    name,
    version: '1',
    state: 'ready',
    ready: true,
    backend: 'openvino',
    device: 'NPU',
    preferred_device: 'NPU',
    fallback: false,
    fallback_chain: [],
    compiled_batch_sizes: [1],
    error: null,
  }
}

/** A model that wanted the NPU and runs on ONNX Runtime on the CPU. */
function onCpuFallback(name: string): ModelHealth {
  return {
    ...onNpu(name),
    backend: 'onnxruntime',
    device: 'CPU',
    fallback: true,
    fallback_chain: [
      { backend: 'openvino', device: 'NPU', reason: OV_MISSING },
      { backend: 'openvino', device: 'CPU', reason: OV_MISSING },
    ],
    compiled_batch_sizes: null,
  }
}

/** A model that wanted the NPU and landed on OpenVINO's GPU. */
function onGpuFallback(name: string): ModelHealth {
  return {
    ...onNpu(name),
    device: 'GPU',
    fallback: true,
    fallback_chain: [
      { backend: 'openvino', device: 'NPU', reason: 'device NPU not present (OpenVINO devices: CPU, GPU)' },
    ],
  }
}

/** A model that no backend could load. */
function failed(name: string): ModelHealth {
  return {
    ...onNpu(name),
    state: 'failed',
    ready: false,
    backend: null,
    device: null,
    compiled_batch_sizes: null,
    fallback_chain: [{ backend: 'onnxruntime', device: 'CPU', reason: 'bad model file' }],
    error: 'onnxruntime/CPU: bad model file',
  }
}

/** A model on the NPU whose backend lost some slots (a thread being replaced, a request being recycled). */
function impaired(name: string): ModelHealth {
  return {
    ...onNpu(name),
    state: 'degraded',
    reason: '1 of 2 ONNX Runtime threads down: thread ort:a:1#0 died (exit code 70)',
    parallelism: { configured: 2, loaded: 2, live: 1, reason: '1 of 2 ONNX Runtime threads down' },
  }
}

/** A model whose answers drift from its reference. */
function drifting(name: string): ModelHealth {
  return {
    ...onNpu(name),
    state: 'degraded',
    reason: 'output drift: 16 of 16 outputs outside FP16 tolerance',
  }
}

/** A loaded model that cannot serve now and recovers by itself. */
function recovering(name: string): ModelHealth {
  return {
    ...onNpu(name),
    state: 'recovering',
    ready: false,
    reason: 'attempt 2, next at 2026-01-01T00:00:00.000Z: 1 of 1 threads down',
    recovery: { attempt: 2, retry_at: '2026-01-01T00:00:00.000Z' },
  }
}

function report(overrides: Partial<HealthInputs>) {
  const body = buildHealthReport({
    lifecycle: 'serving',
    version: '1.2.3',
    uptimeSeconds: 12.3456,
    models: [],
    probes: probes.npuHost,
    load: { active: 1, queued: 2, capacity: 4, queue_capacity: 64 },
    tasks: ['ocr'],
    ...overrides,
  })
  // Every body the worker can produce must be valid against the wire contract the pool parses.
  expect(HealthResponseSchema.parse(body)).toEqual(body)
  return body
}

describe('buildHealthReport: status truth table', () => {
  const cases: Array<[string, Partial<HealthInputs>, string, 200 | 503]> = [
    [
      'starting while models load, whatever they are',
      { lifecycle: 'starting', models: [onNpu('a')] },
      'starting',
      503,
    ],
    [
      'draining while shutting down, even with ready models',
      { lifecycle: 'draining', models: [onNpu('a')] },
      'draining',
      503,
    ],
    ['unhealthy with no models at all', { models: [] }, 'unhealthy', 503],
    ['unhealthy when every model failed', { models: [failed('a'), failed('b')] }, 'unhealthy', 503],
    [
      'healthy only when every model runs on its preferred device',
      { models: [onNpu('a'), onNpu('b')] },
      'healthy',
      200,
    ],
    [
      'degraded when one model runs on a CPU fallback',
      { models: [onNpu('a'), onCpuFallback('b')] },
      'degraded',
      200,
    ],
    ['degraded on a GPU fallback too', { models: [onGpuFallback('a')] }, 'degraded', 200],
    [
      'degraded when some model failed and others serve',
      { models: [onNpu('a'), failed('b')] },
      'degraded',
      200,
    ],
    [
      'degraded while a model serves with fewer slots',
      { models: [onNpu('a'), impaired('b')] },
      'degraded',
      200,
    ],
    ['degraded while a model drifts from its reference', { models: [drifting('a')] }, 'degraded', 200],
    [
      'degraded while a model recovers and others serve',
      { models: [onNpu('a'), recovering('b')] },
      'degraded',
      200,
    ],
    ['unhealthy while the only model recovers', { models: [recovering('a')] }, 'unhealthy', 503],
    [
      'degraded when a registered task cannot serve',
      {
        models: [onNpu('a')],
        unavailableTasks: [{ type: 'embeddings', reason: 'tokenizer.json: not valid JSON' }],
      },
      'degraded',
      200,
    ],
    [
      'degraded while a native inference abandoned after its limit still runs',
      {
        models: [onNpu('a')],
        abandonedCalls: [
          { model: 'a', version: '1', thread: 'ort:a:1#0', since: '2026-01-01T00:00:00.000Z' },
        ],
      },
      'degraded',
      200,
    ],
  ]
  it.each(cases)('%s', (_name, inputs, status, http) => {
    const body = report(inputs)
    expect(body.status).toBe(status)
    expect(healthHttpStatus(body.status)).toBe(http)
  })

  it('names both the failed models and the fallbacks in the message', () => {
    const body = report({ models: [onCpuFallback('a'), failed('b')] })
    expect(body.message).toContain('models failed to load: b:1')
    expect(body.message).toContain('serving on a fallback: a:1 on onnxruntime/CPU')
  })

  it('says why in the message: drift, recovery, tasks and stuck native work, each named', () => {
    const body = report({
      models: [drifting('a'), recovering('b'), onNpu('c')],
      unavailableTasks: [{ type: 'embeddings', reason: 'no embeddings model can serve' }],
      abandonedCalls: [{ model: 'a', version: '1', thread: 'ort:a:1#0', since: '2026-01-01T00:00:00.000Z' }],
    })
    expect(body.message).toContain(
      'models degraded: a:1 (output drift: 16 of 16 outputs outside FP16 tolerance)',
    )
    expect(body.message).toContain('models recovering: b:1 (attempt 2, next at 2026-01-01T00:00:00.000Z')
    expect(body.message).toContain('tasks cannot serve: embeddings (no embeddings model can serve)')
    expect(body.message).toContain('still running: a:1 on ort:a:1#0')
    expect(body.unavailable_tasks).toEqual([{ type: 'embeddings', reason: 'no embeddings model can serve' }])
    expect(body.abandoned_calls).toHaveLength(1)
  })

  it('when nothing can serve, says what each model is doing', () => {
    const body = report({ models: [recovering('a'), failed('b')] })
    expect(body.message).toMatch(/^no model can serve: a:1 recovering \(attempt 2, next at /)
    expect(body.message).toContain('b:1 failed (onnxruntime/CPU: bad model file)')
  })

  it('sums up the self-tests of every model', () => {
    const at = '2026-01-01T00:00:00.000Z'
    const test = (result: 'pass' | 'drift' | 'error' | 'no_reference') => ({
      result,
      at,
      reference: null,
      precision: 'FP16' as const,
      tolerance: null,
      max_abs_error: null,
      mismatches: null,
      elements: null,
      duration_ms: null,
      message: result,
    })
    const body = report({
      models: [
        { ...onNpu('a'), self_test: test('pass') },
        { ...drifting('b'), self_test: test('drift') },
        { ...onNpu('c'), self_test: test('no_reference') },
        { ...onNpu('d'), self_test: test('pass') },
      ],
      selfTests: { intervalSeconds: 60, lastRunAt: Date.parse(at) },
    })
    expect(body.self_test).toEqual({
      interval_seconds: 60,
      last_run_at: at,
      passed: 2,
      drifted: 1,
      failed: 0,
      no_reference: 1,
    })
  })
})

describe('buildHealthReport: capabilities', () => {
  it('on a host without OpenVINO: CPU, not available, and the first fallback reason', () => {
    const body = report({ probes: probes.noOpenvino, models: [onCpuFallback('mlp')] })
    expect(body.capabilities).toMatchObject({
      device: 'CPU',
      available: false,
      backend: 'onnxruntime',
      devices: ['CPU'],
      fallback_reason: OV_MISSING,
      openvino: { loaded: false, version: null, error: "Cannot find module '../bin/ov_node_addon.node'" },
      models: ['mlp'],
      tasks: ['ocr'],
    })
  })

  it('reports the best device any ready model runs on: NPU > GPU > CPU', () => {
    const body = report({ models: [onCpuFallback('a'), onGpuFallback('b'), onNpu('c'), failed('d')] })
    expect(body.capabilities.device).toBe('NPU')
    expect(body.capabilities.backend).toBe('openvino')
    expect(body.capabilities.available).toBe(true)
    expect(body.capabilities.devices).toEqual(['CPU', 'GPU', 'NPU'])
    // Failed models are listed in `models` but not offered in capabilities.
    expect(body.capabilities.models).toEqual(['a', 'b', 'c'])
    expect(body.models.map((m) => m.name)).toEqual(['a', 'b', 'c', 'd'])
    expect(report({ models: [onCpuFallback('a'), onGpuFallback('b')] }).capabilities.device).toBe('GPU')
  })

  it('says `none` and no backend when nothing is ready, and has no fallback reason when none happened', () => {
    const none = report({ models: [] })
    expect(none.capabilities.device).toBe('none')
    expect(none.capabilities.backend).toBeNull()
    expect(none.capabilities.fallback_reason).toBeNull()
    expect(report({ models: [onNpu('a')] }).capabilities.fallback_reason).toBeNull()
  })

  it('NPU is available only while some model runs on it', () => {
    // OpenVINO lists an NPU, but every model fell back (every NPU compile failed): not available.
    expect(report({ models: [onCpuFallback('a'), failed('b')] }).capabilities.available).toBe(false)
    expect(report({ models: [onCpuFallback('a'), onNpu('b')] }).capabilities.available).toBe(true)
    expect(
      report({ models: [{ ...onNpu('a'), state: 'recovering', ready: false }] }).capabilities.available,
    ).toBe(false)
    expect(report({ probes: null, models: [] }).capabilities.available).toBe(false)
  })

  it('carries version, load and uptime through', () => {
    const body = report({ models: [onNpu('a')] })
    expect(body.service).toBe('npu-worker')
    expect(body.version).toBe('1.2.3')
    expect(body.load).toEqual({ active: 1, queued: 2, capacity: 4, queue_capacity: 64 })
    expect(body.uptime_seconds).toBeCloseTo(12.346, 3)
  })
})
