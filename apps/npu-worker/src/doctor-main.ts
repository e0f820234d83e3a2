#!/usr/bin/env node
// `npu-worker doctor`: checks this host for the worker and prints a table (or JSON with --json).
// Exit codes: 0 ready; 1 a required device or model is not usable; 2 bad arguments or configuration.
import { ConfigError, loadWorkerConfig } from './config.js'
import { DOCTOR_USAGE, DoctorUsageError, parseDoctorArgs } from './doctor/doctor-args.js'
import type { OpenvinoSource } from './doctor/openvino-task.js'
import { renderDoctorTable } from './doctor/render-table.js'
import { runDoctor } from './doctor/run-doctor.js'
import type { GenerationBackend } from './generation/generation-backend.js'
import { OpenvinoGenaiBackend } from './generation/openvino-genai-backend.js'

// ONNX Runtime reads this through getenv; without it, it writes a telemetry database under ~/.cache.
process.env.ORT_DISABLE_TELEMETRY ??= '1'

function usageError(message: string): never {
  process.stderr.write(`npu-worker doctor: ${message}\n\n${DOCTOR_USAGE}\n`)
  process.exit(2)
}

let args: ReturnType<typeof parseDoctorArgs>
try {
  args = parseDoctorArgs(process.argv.slice(2))
} catch (error) {
  if (!(error instanceof DoctorUsageError)) throw error
  usageError(error.message)
}
if (args.help) {
  process.stdout.write(`${DOCTOR_USAGE}\n`)
  process.exit(0)
}

let config: ReturnType<typeof loadWorkerConfig>['config']
try {
  config = loadWorkerConfig({ argv: args.workerArgv, env: process.env, cwd: process.cwd() }).config
} catch (error) {
  if (!(error instanceof ConfigError)) throw error
  process.stderr.write(`npu-worker doctor: invalid configuration: ${error.message}\n`)
  process.exit(2)
}

// Under test hooks with a fake OpenVINO the doctor checks what the worker would serve: the fake's devices.
const fake = config.test_hooks?.fake_openvino
if (fake)
  process.stderr.write('npu-worker doctor: TEST HOOKS: checking the fake OpenVINO runtime, not a device\n')
const openvino: OpenvinoSource = fake
  ? { kind: 'fake', options: { devices: [...fake.devices] } }
  : { kind: 'openvino-node' }
// The same for OpenVINO GenAI (language models): the fake is loaded only under test hooks.
const fakeGenai = config.test_hooks?.fake_openvino_genai
let genai: GenerationBackend | undefined
if (fakeGenai) {
  process.stderr.write(
    'npu-worker doctor: TEST HOOKS: checking the fake OpenVINO GenAI runtime, not a device\n',
  )
  const { createFakeOpenvinoGenai } = await import('./testing/fake-openvino-genai.js')
  const devices = [...fakeGenai.devices]
  const runtime = createFakeOpenvinoGenai({
    devices,
    generationThreadEntry: new URL('./generation/generation-thread.js', import.meta.url),
  }).runtime
  genai = new OpenvinoGenaiBackend({
    loadRuntime: async () => ({ runtime, error: null }),
    listDevices: () => devices,
  })
}
const report = await runDoctor({
  config,
  requireNpu: args.requireNpu,
  openvino,
  childEntry: new URL('./doctor/openvino-child.js', import.meta.url),
  ...(genai ? { genai } : {}),
})
process.stdout.write(args.json ? `${JSON.stringify(report, null, 2)}\n` : renderDoctorTable(report))
for (const problem of report.problems) process.stderr.write(`npu-worker doctor: ${problem}\n`)
// Exit now: a native request that never settled must not keep the process alive.
process.exit(report.exit_code)
