import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import {
  DOCTOR_REPORT_VERSION,
  type DoctorCheck,
  type DoctorModel,
  type DoctorReport,
  type DoctorStatus,
} from '@npu-fleet/protocol'
import type { InferenceBackend } from '../backends/backend.js'
import { OnnxRuntimeBackend } from '../backends/onnxruntime.js'
import type { WorkerConfig } from '../config.js'
import type { GenerationBackend } from '../generation/generation-backend.js'
import { OnnxGenerationBackend } from '../generation/onnx-generation-backend.js'
import { OpenvinoGenaiBackend } from '../generation/openvino-genai-backend.js'
import { modelDefaultsOf } from '../models/model-load-spec.js'
import { scanModelRepository } from '../models/model-repository.js'
import { threadEntriesIn } from '../threads/thread-entries.js'
import { WORKER_VERSION } from '../worker-version.js'
import { type AccelPaths, checkAccelDevices, HOST_ACCEL_PATHS, RENDER_GROUP } from './accel-devices.js'
import { checkGenerator } from './generator-check.js'
import { checkModel } from './model-check.js'
import { checkNpuDriver, type DriverPaths, HOST_DRIVER_PATHS, NPU_KERNEL_MODULE } from './npu-driver.js'
import { isolatedRunner } from './openvino-isolated.js'
import type { OpenvinoSource, ProbeResult } from './openvino-task.js'

/** Inputs of {@link runDoctor}. */
export interface RunDoctorOptions {
  config: WorkerConfig
  requireNpu: boolean
  /** The runtime the OpenVINO child loads: the real `openvino-node`, or the test fake. */
  openvino: OpenvinoSource
  /** The compiled `doctor/openvino-child.js` (the entry point passes the one beside it). */
  childEntry: URL | string
  /** ONNX Runtime for references and fallbacks; default: the worker's own backend. */
  onnxruntime?: InferenceBackend
  /** OpenVINO GenAI for language models; default: the real openvino-genai-node (loaded safely, in-process). */
  genai?: GenerationBackend
  /** Host paths; tests point them at folders they make. */
  accelPaths?: AccelPaths
  driverPaths?: DriverPaths
  /** Limit of loading the runtime and listing devices (child process, killed past it). */
  probeLimitMs?: number
  /** Limit of one compile. */
  compileLimitMs?: number
}

const DEFAULT_PROBE_LIMIT_MS = 60_000
// NPU compilation takes seconds to over a minute for big models.
const DEFAULT_COMPILE_LIMIT_MS = 300_000

const SEVERITY: Record<DoctorStatus, number> = { skip: 0, ok: 1, warn: 2, fail: 3 }

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

/** The NPU compiler version property packs major (high 16 bits) and minor (low 16 bits). */
function compilerVersion(value: string | undefined): string | null {
  if (value === undefined || !/^\d+$/.test(value)) return value ?? null
  const n = Number(value)
  return `${Math.floor(n / 65536)}.${n % 65536}`
}

/** Can the worker write its compiled-model cache? */
function checkCacheDir(dir: string): string | null {
  try {
    mkdirSync(dir, { recursive: true })
    const probe = join(dir, `.npu-worker-doctor-${process.pid}`)
    writeFileSync(probe, '')
    rmSync(probe)
    return null
  } catch (err) {
    return messageOf(err)
  }
}

/** Checks the host for real and returns the report (never throws for what it finds; only for bad options). */
export async function runDoctor(options: RunDoctorOptions): Promise<DoctorReport> {
  const { config, requireNpu } = options
  const checks: DoctorCheck[] = []
  const add = (id: string, status: DoctorStatus, detail: string) => checks.push({ id, status, detail })
  // What the NPU lacks is a failure only when it is required.
  const npuProblem: DoctorStatus = requireNpu ? 'fail' : 'warn'

  // 1. Device nodes and the user's access to them.
  const accel = checkAccelDevices(options.accelPaths ?? HOST_ACCEL_PATHS)
  const { user } = accel
  const accelDir = (options.accelPaths ?? HOST_ACCEL_PATHS).accelDir
  const userText = `${user.name} (uid ${user.uid}, groups: ${user.groups.join(', ') || 'none'})`
  if (accel.nodes === null) add('device.accel', npuProblem, `no NPU: ${accelDir} missing`)
  else if (accel.nodes.length === 0) add('device.accel', npuProblem, `no NPU: ${accelDir} has no accel* node`)
  else {
    for (const node of accel.nodes) {
      if (node.openable) {
        add('device.accel', 'ok', `${node.path} opens read-write (group ${node.group}, mode ${node.mode})`)
      } else {
        add(
          'device.accel',
          npuProblem,
          `${node.path} (group ${node.group}, mode ${node.mode}) cannot be opened by ${user.name}: ${node.error}; add the user to the ${node.group === RENDER_GROUP ? RENDER_GROUP : `${node.group} (usually ${RENDER_GROUP})`} group: usermod -aG ${node.group} ${user.name}`,
        )
      }
    }
  }
  add(
    'device.user',
    accel.nodes?.some((n) => !n.openable) && !user.in_render_group ? npuProblem : 'ok',
    `running as ${userText}; ${user.in_render_group ? `in the ${RENDER_GROUP} group` : `not in the ${RENDER_GROUP} group`}`,
  )

  // 2. Kernel driver and firmware, as far as sysfs shows them.
  const driver = checkNpuDriver(options.driverPaths ?? HOST_DRIVER_PATHS)
  if (!driver.module_loaded) {
    add(
      'driver.module',
      npuProblem,
      `kernel module ${NPU_KERNEL_MODULE} not loaded (kernel ${driver.kernel})`,
    )
  } else {
    const version = driver.module_version ?? `srcversion ${driver.module_srcversion ?? 'not shown'}`
    add('driver.module', 'ok', `${NPU_KERNEL_MODULE} loaded, version ${version} (kernel ${driver.kernel})`)
  }
  add(
    'driver.firmware',
    driver.firmware_files.length > 0 ? 'ok' : driver.module_loaded ? npuProblem : 'skip',
    driver.firmware_files.length > 0
      ? `NPU firmware: ${driver.firmware_files.join(', ')}`
      : 'no NPU firmware under intel/vpu in the firmware folders',
  )

  // 3. The OpenVINO runtime, in a child process with a hard time limit.
  const runner = isolatedRunner(options.childEntry)
  const probeLimitMs = options.probeLimitMs ?? DEFAULT_PROBE_LIMIT_MS
  const openvino: ProbeResult = await runner
    .run({ kind: 'probe', source: options.openvino }, probeLimitMs)
    .catch((err) => ({
      kind: 'probe' as const,
      loaded: false,
      version: null,
      error: `probing OpenVINO ${messageOf(err)}`,
      devices: [],
      npuProperties: {},
    }))
  if (!openvino.loaded) add('openvino.load', npuProblem, openvino.error ?? 'openvino-node cannot be loaded')
  else {
    add(
      'openvino.load',
      'ok',
      `openvino-node loads, OpenVINO ${openvino.version ?? '(version not reported)'}`,
    )
    const hasNpu = openvino.devices.some((d) => d === 'NPU' || d.startsWith('NPU.'))
    add(
      'openvino.devices',
      hasNpu ? 'ok' : npuProblem,
      `devices: ${openvino.devices.join(', ') || 'none'}${hasNpu ? '' : '; no NPU listed'}`,
    )
    if (hasNpu) {
      const p = openvino.npuProperties
      const parts = [
        p.FULL_DEVICE_NAME ?? 'name not reported',
        p.DEVICE_ARCHITECTURE ? `architecture ${p.DEVICE_ARCHITECTURE}` : null,
        p.NPU_DRIVER_VERSION ? `driver ${p.NPU_DRIVER_VERSION}` : null,
        p.NPU_COMPILER_VERSION ? `compiler ${compilerVersion(p.NPU_COMPILER_VERSION)}` : null,
        p.NPU_DEVICE_TOTAL_MEM_SIZE ? `memory ${p.NPU_DEVICE_TOTAL_MEM_SIZE} bytes` : null,
      ].filter(Boolean)
      add('openvino.npu', 'ok', `NPU: ${parts.join(', ')}`)
    }
  }

  // 4. The compiled-model cache the worker writes.
  const cacheError = checkCacheDir(config.cache_dir)
  add(
    'cache.dir',
    cacheError ? npuProblem : 'ok',
    cacheError
      ? `CACHE_DIR ${config.cache_dir} is not writable: ${cacheError}`
      : `CACHE_DIR ${config.cache_dir} is writable`,
  )

  // 5. Every model of the configured repository.
  const models: DoctorModel[] = []
  let specs: ReturnType<typeof scanModelRepository>['specs'] = []
  try {
    const scan = scanModelRepository(config.models_dir)
    specs = scan.specs
    for (const { name, error } of scan.errors) add(`model.${name}`, 'fail', `skipped by the worker: ${error}`)
    if (scan.specs.length === 0)
      add('models', 'fail', `the model repository ${config.models_dir} holds no model`)
  } catch (err) {
    add('models', 'fail', messageOf(err))
  }
  const scratchDir = mkdtempSync(join(tmpdir(), 'npu-worker-doctor-'))
  // The thread entry sits in the same compiled tree as the child entry the caller passed.
  const onnxruntime =
    options.onnxruntime ??
    new OnnxRuntimeBackend({
      threadEntry: threadEntriesIn(
        new URL(
          '../',
          typeof options.childEntry === 'string' ? pathToFileURL(options.childEntry) : options.childEntry,
        ),
      ).onnxruntime,
    })
  // Language models are checked through the path they are served on: OpenVINO GenAI, the ONNX Runtime engine.
  const genai = options.genai ?? new OpenvinoGenaiBackend()
  const generation = new OnnxGenerationBackend({
    threadEntry: threadEntriesIn(
      new URL(
        '../',
        typeof options.childEntry === 'string' ? pathToFileURL(options.childEntry) : options.childEntry,
      ),
    ).generation,
  })
  try {
    for (const spec of specs) {
      const model = spec.manifest.generation
        ? await checkGenerator(spec, {
            genai,
            onnxruntime: generation,
            defaults: modelDefaultsOf(config),
            requireNpu,
            compileLimitMs: options.compileLimitMs ?? DEFAULT_COMPILE_LIMIT_MS,
            scratchDir,
          })
        : await checkModel(spec, {
            openvino,
            source: options.openvino,
            runner,
            onnxruntime,
            defaults: modelDefaultsOf(config),
            requireNpu,
            compileLimitMs: options.compileLimitMs ?? DEFAULT_COMPILE_LIMIT_MS,
            scratchDir,
          })
      models.push(model)
      const where = model.device ? ` [${model.backend}/${model.device}]` : ''
      add(`model.${spec.name}:${spec.version}`, model.status, `${model.detail}${where}`)
    }
  } finally {
    await Promise.all([generation.close(), options.genai ? null : genai.close()])
    if (!options.onnxruntime) await onnxruntime.close()
    await rm(scratchDir, { recursive: true, force: true })
  }

  const problems = checks.filter((c) => c.status === 'fail').map((c) => `${c.id}: ${c.detail}`)
  const worst = Math.max(...checks.map((c) => SEVERITY[c.status]))
  const ready = worst < SEVERITY.fail
  return {
    doctor_report_version: DOCTOR_REPORT_VERSION,
    worker_version: WORKER_VERSION,
    generated_at: new Date().toISOString(),
    hostname: hostname(),
    require_npu: requireNpu,
    ready,
    exit_code: ready ? 0 : 1,
    user,
    accel_nodes: accel.nodes ?? [],
    driver,
    openvino: {
      loaded: openvino.loaded,
      version: openvino.version,
      error: openvino.error,
      devices: openvino.devices,
      npu_properties: openvino.npuProperties,
    },
    models,
    checks,
    problems,
  }
}
