import { describe, expect, it } from 'vitest'
import { HealthResponseSchema } from '../src/index.js'

const healthy = {
  status: 'healthy',
  service: 'npu-worker',
  version: '1.0.0',
  capabilities: {
    device: 'NPU',
    available: true,
    backend: 'openvino',
    devices: ['CPU', 'NPU'],
    fallback_reason: null,
    openvino: { loaded: true, version: '2026.4.0', error: null },
    tasks: ['ocr'],
    models: ['ppocr-det'],
  },
  models: [
    {
      name: 'ppocr-det',
      version: '1',
      state: 'ready',
      ready: true,
      backend: 'openvino',
      device: 'NPU',
      preferred_device: 'NPU',
      fallback: false,
      fallback_chain: [],
      error: null,
    },
  ],
  load: { active: 0, queued: 0, capacity: 2, queue_capacity: 64 },
  uptime_seconds: 12.5,
}

describe('HealthResponseSchema', () => {
  it('accepts the seeds contract extended with models and load', () => {
    expect(HealthResponseSchema.parse(healthy).status).toBe('healthy')
  })

  it('rejects another service answering on the port', () => {
    const other = { ...healthy, service: 'some-other-service' }
    const result = HealthResponseSchema.safeParse(other)
    expect(result.success).toBe(false)
    expect(result.error?.issues[0]?.path).toEqual(['service'])
  })

  it('rejects the bare placeholder body that only says healthy', () => {
    expect(HealthResponseSchema.safeParse({ status: 'healthy' }).success).toBe(false)
  })

  it('rejects an unknown status', () => {
    expect(HealthResponseSchema.safeParse({ ...healthy, status: 'ok' }).success).toBe(false)
  })
})

describe('HealthResponseSchema: runtime truth fields (all optional, so older workers still parse)', () => {
  const model = healthy.models[0] as (typeof healthy.models)[number]

  it('accepts a recovering model, a drifting one, the self-test summary and the stuck calls', () => {
    const body = {
      ...healthy,
      status: 'degraded',
      models: [
        {
          ...model,
          state: 'recovering',
          ready: false,
          reason: 'attempt 2, next at 2026-01-01T00:00:01.000Z: 1 of 1 requests being recycled',
          since: '2026-01-01T00:00:00.000Z',
          recovery: { attempt: 2, retry_at: '2026-01-01T00:00:01.000Z' },
          parallelism: { configured: 2, loaded: 1, live: 0, reason: 'OPTIMAL_NUMBER_OF_INFER_REQUESTS is 1' },
          precision: 'FP16',
          abandoned_calls: 1,
        },
        {
          ...model,
          name: 'mlp',
          state: 'degraded',
          reason: 'output drift: 16 of 16 outputs outside FP16 tolerance',
          self_test: {
            result: 'drift',
            at: '2026-01-01T00:00:00.000Z',
            reference: 'onnxruntime_cpu',
            precision: 'FP16',
            tolerance: { atol: 0.03, rtol: 0.01 },
            max_abs_error: 0.5,
            mismatches: 16,
            elements: 16,
            duration_ms: 0.4,
            message: '16 of 16 outputs outside FP16 tolerance',
          },
        },
      ],
      self_test: {
        interval_seconds: 60,
        last_run_at: null,
        passed: 0,
        drifted: 1,
        failed: 0,
        no_reference: 0,
      },
      abandoned_calls: [
        { model: 'ppocr-det', version: '1', thread: 'ort:ppocr-det:1#0', since: '2026-01-01T00:00:00.000Z' },
      ],
      unavailable_tasks: [{ type: 'embeddings', reason: 'no embeddings model can serve' }],
    }
    expect(HealthResponseSchema.parse(body)).toEqual(body)
  })

  it('rejects a self-test result it does not know', () => {
    const body = {
      ...healthy,
      models: [{ ...model, self_test: { result: 'maybe', at: 'x', reference: null, precision: 'FP32' } }],
    }
    expect(HealthResponseSchema.safeParse(body).success).toBe(false)
  })
})
