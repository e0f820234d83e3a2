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
