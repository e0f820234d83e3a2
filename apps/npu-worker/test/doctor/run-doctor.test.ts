// runDoctor against the fake openvino-node (src/testing/fake-openvino.ts), loaded by the doctor's real child
// process (dist/doctor/openvino-child.js): the whole NPU path runs as it would on an NPU host, compile cold and
// warm from CACHE_DIR, golden input compared with ONNX Runtime on the CPU in the device's tolerance. The host
// paths point at folders the test makes: this machine has no /dev/accel.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DoctorReportSchema } from '@npu-fleet/protocol'
import { afterAll, describe, expect, it } from 'vitest'
import { resolveWorkerConfig } from '../../src/config.js'
import { type RunDoctorOptions, runDoctor } from '../../src/doctor/run-doctor.js'
import type { FakeOpenvinoOptions } from '../../src/testing/fake-openvino.js'
import { makeMlpModelRepository, WORKER_ROOT } from '../helpers/worker-process.js'

const CHILD_ENTRY = join(WORKER_ROOT, 'dist', 'doctor', 'openvino-child.js')
const scratch = mkdtempSync(join(tmpdir(), 'doctor-host-'))
const repository = makeMlpModelRepository()
afterAll(() => {
  repository.cleanup()
  rmSync(scratch, { recursive: true, force: true })
})

/** A host tree with an NPU device node, the intel_vpu module and its firmware. */
function npuHost(): Pick<RunDoctorOptions, 'accelPaths' | 'driverPaths'> {
  const root = mkdtempSync(join(scratch, 'host-'))
  mkdirSync(join(root, 'dev', 'accel'), { recursive: true })
  writeFileSync(join(root, 'dev', 'accel', 'accel0'), '')
  writeFileSync(join(root, 'group'), `root:x:0:\nrender:x:${process.getgid?.() ?? 0}:\n`)
  mkdirSync(join(root, 'sys', 'module', 'intel_vpu'), { recursive: true })
  writeFileSync(join(root, 'sys', 'module', 'intel_vpu', 'srcversion'), 'ABC123\n')
  mkdirSync(join(root, 'firmware', 'intel', 'vpu'), { recursive: true })
  writeFileSync(join(root, 'firmware', 'intel', 'vpu', 'vpu_37xx_v1.bin'), 'fw')
  return {
    accelPaths: { accelDir: join(root, 'dev', 'accel'), groupFile: join(root, 'group') },
    driverPaths: { sysModuleDir: join(root, 'sys', 'module'), firmwareDirs: [join(root, 'firmware')] },
  }
}

function doctorOn(fake: FakeOpenvinoOptions, extra: Partial<RunDoctorOptions> = {}) {
  return runDoctor({
    config: resolveWorkerConfig({ models_dir: repository.dir, cache_dir: join(scratch, 'cache') }),
    requireNpu: false,
    openvino: { kind: 'fake', options: fake },
    childEntry: CHILD_ENTRY,
    ...npuHost(),
    ...extra,
  })
}

describe('runDoctor with the fake NPU', () => {
  it('compiles mlp on the NPU cold then warm from CACHE_DIR and matches ONNX Runtime: ready', async () => {
    const report = DoctorReportSchema.parse(await doctorOn({ devices: ['CPU', 'NPU'] }))
    expect(report.problems).toEqual([])
    expect(report).toMatchObject({ ready: true, exit_code: 0 })
    expect(report.accel_nodes).toEqual([
      expect.objectContaining({ openable: true, error: null, group: 'render' }),
    ])
    expect(report.driver).toMatchObject({ module_loaded: true, module_srcversion: 'ABC123' })
    expect(report.openvino).toMatchObject({ loaded: true, devices: ['CPU', 'NPU'] })
    const [mlp] = report.models
    expect(mlp).toMatchObject({ name: 'mlp', status: 'ok', backend: 'openvino', device: 'NPU' })
    expect(mlp!.compile_cold_ms).toEqual(expect.any(Number))
    expect(mlp!.compile_warm_ms).toEqual(expect.any(Number))
    expect(mlp!.cache_files).toBeGreaterThan(0)
    expect(mlp!.outputs).toEqual([expect.objectContaining({ name: 'output', elements: 16, mismatches: 0 })])
    expect(report.checks.find((c) => c.id === 'model.mlp:1')?.detail).toMatch(
      /^golden input matches ONNX Runtime/,
    )
  })

  it('without an NPU in OpenVINO: a warning and the ONNX Runtime fallback; with --require-npu: exit 1', async () => {
    const relaxed = await doctorOn({ devices: ['CPU'] })
    expect(relaxed.exit_code).toBe(0)
    expect(relaxed.checks.find((c) => c.id === 'openvino.devices')).toMatchObject({
      status: 'warn',
      detail: 'devices: CPU; no NPU listed',
    })
    const strict = await doctorOn({ devices: ['CPU'] }, { requireNpu: true })
    expect(strict.exit_code).toBe(1)
    expect(strict.problems).toContain('openvino.devices: devices: CPU; no NPU listed')
    expect(strict.problems.some((p) => p.startsWith('model.mlp:1: NPU not listed by OpenVINO'))).toBe(true)
  })

  it('a device that answers wrong numbers fails the model and the host (exit 1), naming the output', async () => {
    const report = await doctorOn({
      devices: ['CPU', 'NPU'],
      faults: [{ kind: 'drift', device: 'NPU', offset: 0.5 }],
    })
    expect(report.exit_code).toBe(1)
    const [mlp] = report.models
    expect(mlp).toMatchObject({ status: 'fail', device: 'NPU', precision: 'FP16' })
    expect(mlp!.outputs[0]).toMatchObject({ name: 'output', elements: 16, mismatches: 16 })
    expect(report.problems).toEqual([
      expect.stringMatching(
        /^model\.mlp:1: wrong answer on NPU \(FP16\): output: 16 of 16 outside atol 0\.03 rtol 0\.01 \(max error 0\.5\d*, first at 0\)/,
      ),
    ])
  })

  it('an operator the NPU refuses: a warning and the fallback, or a failure with --require-npu', async () => {
    const fake = { devices: ['CPU', 'NPU'], unsupportedOps: { NPU: ['Gemm'] } }
    const relaxed = await doctorOn(fake)
    expect(relaxed.exit_code).toBe(0)
    expect(relaxed.models[0]).toMatchObject({ status: 'warn', backend: 'onnxruntime', device: 'CPU' })
    expect(relaxed.models[0]!.detail).toMatch(/^compile on NPU failed: .*of type Gemm is not supported/)
    const strict = await doctorOn(fake, { requireNpu: true })
    expect(strict.exit_code).toBe(1)
  })

  it('every native call has a limit: a compile that does not finish, and a child that must be killed', async () => {
    const slow = await doctorOn(
      { devices: ['CPU', 'NPU'], compileLatencyMs: { NPU: 120_000 } },
      { compileLimitMs: 500 },
    )
    expect(slow.models[0]!.detail).toMatch(
      /^compile on NPU failed: compiling mlp:1 for NPU did not finish within 500 ms/,
    )
    const killed = await doctorOn({ devices: ['CPU', 'NPU'] }, { probeLimitMs: 1 })
    expect(killed.openvino.error).toMatch(/^probing OpenVINO did not finish within 1 ms and was killed/)
    expect(killed.checks.find((c) => c.id === 'openvino.load')).toMatchObject({ status: 'warn' })
  })
})
