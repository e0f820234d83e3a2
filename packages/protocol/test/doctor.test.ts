import { describe, expect, it } from 'vitest'
import { DOCTOR_REPORT_VERSION, DoctorReportSchema } from '../src/index.js'

const report = {
  doctor_report_version: DOCTOR_REPORT_VERSION,
  worker_version: '1.0.0',
  generated_at: '2026-01-01T00:00:00.000Z',
  hostname: 'npu-host',
  require_npu: true,
  ready: false,
  exit_code: 1,
  user: { name: 'npu-worker', uid: 998, groups: ['npu-worker'], in_render_group: false },
  accel_nodes: [
    {
      path: '/dev/accel/accel0',
      openable: false,
      error: 'EACCES: permission denied',
      mode: '0660',
      group: 'render',
    },
  ],
  driver: {
    kernel: '6.8.0',
    module_loaded: true,
    module_version: null,
    module_srcversion: 'ABC',
    firmware_files: ['/lib/firmware/intel/vpu/vpu_37xx_v0.0.bin'],
  },
  openvino: { loaded: true, version: '2026.4.0', error: null, devices: ['CPU', 'NPU'], npu_properties: {} },
  models: [
    {
      name: 'mlp',
      version: '1',
      preferred_device: 'NPU',
      status: 'fail',
      backend: 'openvino',
      device: 'NPU',
      precision: 'FP16',
      compile_cold_ms: 812.5,
      compile_warm_ms: 40.1,
      cache_files: 1,
      tolerance: { atol: 0.03, rtol: 0.01 },
      outputs: [{ name: 'output', elements: 16, mismatches: 16, max_abs_error: 0.5 }],
      detail: 'wrong answer on NPU (FP16)',
    },
  ],
  checks: [{ id: 'device.accel', status: 'fail', detail: '/dev/accel/accel0 cannot be opened' }],
  problems: ['device.accel: /dev/accel/accel0 cannot be opened'],
}

describe('DoctorReportSchema', () => {
  it('accepts a full report, and refuses an unknown status or exit code', () => {
    expect(DoctorReportSchema.parse(report)).toEqual(report)
    expect(DoctorReportSchema.safeParse({ ...report, exit_code: 2 }).success).toBe(false)
    expect(
      DoctorReportSchema.safeParse({ ...report, checks: [{ id: 'x', status: 'broken', detail: '' }] })
        .success,
    ).toBe(false)
  })
})
