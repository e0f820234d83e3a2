// `npu-worker doctor` run as a real child process (dist/doctor-main.js), on this machine as it is: the
// report must say truthfully what the host has. On a build machine that is no NPU and no OpenVINO runtime;
// the assertions follow what the test itself finds, so the same file stays right on an NPU host.
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DoctorReportSchema } from '@npu-fleet/protocol'
import { afterEach, describe, expect, it } from 'vitest'
import { loadOpenvinoRuntime } from '../../src/backends/openvino-runtime.js'
import { makeMlpModelRepository, type TempModelRepository, WORKER_ROOT } from '../helpers/worker-process.js'

const DOCTOR_ENTRY = join(WORKER_ROOT, 'dist', 'doctor-main.js')
const hasAccel = existsSync('/dev/accel') && readdirSync('/dev/accel').some((f) => /^accel\d+$/.test(f))
const openvino = loadOpenvinoRuntime()

const repositories: TempModelRepository[] = []
afterEach(() => {
  for (const repository of repositories.splice(0)) repository.cleanup()
})
const scratch: string[] = []
afterEach(() => {
  for (const dir of scratch.splice(0)) rmSync(dir, { recursive: true, force: true })
})
/** A CACHE_DIR outside the model repository (a folder inside it would be scanned as a model). */
function cacheDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'doctor-cache-'))
  scratch.push(dir)
  return dir
}
function repository(options?: Parameters<typeof makeMlpModelRepository>[0]): string {
  const made = makeMlpModelRepository(options)
  repositories.push(made)
  return made.dir
}

/** Runs the doctor with `args`; resolves with its exit code and output (no time limit decides the outcome). */
function doctor(args: string[], env: Record<string, string> = {}) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(process.execPath, [DOCTOR_ENTRY, ...args], {
      env: { ...process.env, ORT_DISABLE_TELEMETRY: '1', NPU_WORKER_CACHE_DIR: '', ...env },
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c) => (stdout += c))
    child.stderr.on('data', (c) => (stderr += c))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

describe('npu-worker doctor (real process)', () => {
  it('prints a plain table that says what this host has, and still checks the models on ONNX Runtime', async () => {
    const dir = repository()
    const { code, stdout, stderr } = await doctor(['--models-dir', dir], { NPU_WORKER_CACHE_DIR: cacheDir() })
    expect(stdout).toMatch(/^STATUS\s+CHECK\s+DETAIL$/m)
    // Plain text only: the deploy role prints it into its log.
    expect(stdout).not.toContain(String.fromCharCode(27))
    if (!hasAccel)
      expect(stdout).toMatch(/^WARN\s+device\.accel\s+no NPU: \/dev\/accel (missing|has no accel\* node)$/m)
    if (!openvino.runtime) {
      expect(stdout).toContain(`WARN    openvino.load`)
      expect(stdout).toContain(openvino.error!)
      expect(stdout).toMatch(
        /^WARN\s+model\.mlp:1\s+OpenVINO unavailable, so not on OpenVINO\/NPU; serves on ONNX Runtime CPU \(fallback\): golden input ran, outputs finite \[onnxruntime\/CPU\]$/m,
      )
    }
    expect(stdout).toMatch(/^OK\s+cache\.dir\s+CACHE_DIR .*doctor-cache-\w+ is writable$/m)
    // Warnings alone leave the host ready.
    expect(code).toBe(0)
    expect(stdout).toMatch(/^READY/m)
    expect(stderr).toBe('')
  })

  it('--json prints a report valid against the protocol schema, with the same findings', async () => {
    const dir = repository()
    const { code, stdout } = await doctor(['--json', '--models-dir', dir], {
      NPU_WORKER_CACHE_DIR: cacheDir(),
    })
    expect(code).toBe(0)
    const report = DoctorReportSchema.parse(JSON.parse(stdout))
    expect(report).toMatchObject({ require_npu: false, ready: true, exit_code: 0, problems: [] })
    expect(report.openvino.loaded).toBe(openvino.runtime !== null)
    expect(report.models.map((m) => `${m.name}:${m.version}`)).toEqual(['mlp:1'])
    if (!openvino.runtime) {
      expect(report.openvino.error).toBe(openvino.error)
      expect(report.models[0]).toMatchObject({ backend: 'onnxruntime', device: 'CPU', status: 'warn' })
    }
    if (!hasAccel) expect(report.accel_nodes).toEqual([])
    expect(report.checks.map((c) => c.id)).toEqual(expect.arrayContaining(['device.accel', 'openvino.load']))
  })

  it('--require-npu on a host without a usable NPU exits 1 and names each reason on its own line', async (ctx) => {
    if (hasAccel && openvino.runtime) ctx.skip()
    const dir = repository()
    const { code, stdout, stderr } = await doctor(['--require-npu', '--models-dir', dir], {
      NPU_WORKER_CACHE_DIR: cacheDir(),
    })
    expect(code).toBe(1)
    expect(stdout).toMatch(/^NOT READY: \d+ problem\(s\)$/m)
    const lines = stderr.trim().split('\n')
    if (!hasAccel) expect(lines).toContain('npu-worker doctor: device.accel: no NPU: /dev/accel missing')
    if (!openvino.runtime) expect(lines).toContain(`npu-worker doctor: openvino.load: ${openvino.error}`)
    expect(lines.every((l) => l.startsWith('npu-worker doctor: '))).toBe(true)
    expect(lines.some((l) => l.startsWith('npu-worker doctor: model.mlp:1: '))).toBe(true)
  })

  it('exits 1 when a model cannot be served anywhere, naming it', async () => {
    const dir = repository()
    mkdirSync(join(dir, 'broken'))
    writeFileSync(join(dir, 'broken', 'model.onnx'), 'not an onnx model')
    const { code, stderr } = await doctor(['--models-dir', dir], { NPU_WORKER_CACHE_DIR: cacheDir() })
    expect(code).toBe(1)
    expect(stderr).toMatch(/^npu-worker doctor: model\.broken:1: .*ONNX Runtime fails too: /m)
  })

  it('exits 2 on bad arguments and on a bad configuration, with the usage or the key', async () => {
    const bad = await doctor(['--no-such-flag'])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain("Unknown option '--no-such-flag'")
    expect(bad.stderr).toContain('usage: npu-worker doctor')
    expect(bad.stdout).toBe('')
    const positional = await doctor(['extra'])
    expect(positional.code).toBe(2)
    const dir = repository()
    const configFile = join(dir, 'worker.yaml')
    writeFileSync(configFile, 'port: nope\n')
    const config = await doctor(['--config', configFile])
    expect(config.code).toBe(2)
    expect(config.stderr).toContain('invalid configuration: ')
    expect(config.stderr).toContain('port: expected integer 0..65535')
  })

  it('under test_hooks with a fake OpenVINO NPU it checks that runtime, says so, and compares in FP16', async () => {
    const dir = repository()
    const configFile = join(cacheDir(), 'worker.yaml')
    writeFileSync(configFile, `models_dir: ${dir}\ntest_hooks:\n  fake_openvino: { devices: [NPU, CPU] }\n`)
    const { stdout, stderr } = await doctor(['--config', configFile, '--json'], {
      NPU_WORKER_CACHE_DIR: cacheDir(),
    })
    expect(stderr).toContain('TEST HOOKS: checking the fake OpenVINO runtime, not a device')
    const report = DoctorReportSchema.parse(JSON.parse(stdout))
    expect(report.openvino).toMatchObject({ loaded: true, version: expect.stringContaining('fake') })
    const mlp = report.checks.find((c) => c.id === 'model.mlp:1')
    expect(mlp).toMatchObject({ status: 'ok', detail: expect.stringContaining('FP16 tolerance') })
  })

  it('--help prints the usage and the exit codes', async () => {
    const { code, stdout } = await doctor(['--help'])
    expect(code).toBe(0)
    expect(stdout).toContain('Exit codes: 0 ready; 1 a required device or model is not usable')
  })
})
