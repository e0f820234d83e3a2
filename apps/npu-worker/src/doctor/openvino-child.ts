// The doctor's OpenVINO child process: reads one task (JSON) from stdin, does it, and writes the answer as
// JSON to fd 3, so nothing the native runtime prints on stdout can corrupt it. Its parent kills it when it
// overruns its time limit (openvino-isolated.ts).
import { readdirSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { OpenvinoBackend } from '../backends/openvino.js'
import { loadOpenvinoRuntime, type OpenvinoRuntime } from '../backends/openvino-runtime.js'
import { goldenInputs } from '../models/golden-input.js'
import { withTimeLimit } from '../time-limit.js'
import {
  type ModelResult,
  type ModelTask,
  mapValues,
  NPU_PROPERTIES,
  type OpenvinoSource,
  type OpenvinoTask,
  type OpenvinoTaskResult,
  type ProbeResult,
  toWire,
} from './openvino-task.js'

const RESULT_FD = 3

async function runtimeOf(
  source: OpenvinoSource,
): Promise<{ runtime: OpenvinoRuntime | null; error: string | null }> {
  if (source.kind === 'fake') {
    // Only reachable from test_hooks: the fake is test-only code compiled beside the worker.
    const { createFakeOpenvino } = await import('../testing/fake-openvino.js')
    return { runtime: createFakeOpenvino(source.options).runtime, error: null }
  }
  const load = loadOpenvinoRuntime()
  return { runtime: load.runtime, error: load.error }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

async function probe(source: OpenvinoSource): Promise<ProbeResult> {
  const { runtime, error } = await runtimeOf(source)
  const result: ProbeResult = {
    kind: 'probe',
    loaded: false,
    version: null,
    error,
    devices: [],
    npuProperties: {},
  }
  if (!runtime) return result
  try {
    const core = new runtime.Core()
    result.loaded = true
    result.devices = [...core.getAvailableDevices()]
    try {
      result.version = runtime.getOpenvinoVersion().buildNumber
    } catch (err) {
      result.version = null
      result.error = `getOpenvinoVersion failed: ${messageOf(err)}`
    }
    if (result.devices.some((d) => d === 'NPU' || d.startsWith('NPU.'))) {
      for (const name of NPU_PROPERTIES) {
        try {
          result.npuProperties[name] = String(core.getProperty('NPU', name))
        } catch {
          // The plugin does not report this property (older drivers lack some): it is left out.
        }
      }
    }
  } catch (err) {
    result.error = `openvino-node loaded but its Core failed: ${messageOf(err)}`
  }
  return result
}

function countFiles(dir: string): number {
  let n = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    n += entry.isDirectory() ? countFiles(join(dir, entry.name)) : 1
  }
  return n
}

async function checkModel(task: ModelTask): Promise<ModelResult> {
  const { runtime, error } = await runtimeOf(task.source)
  if (!runtime) return { kind: 'model', ok: false, stage: 'compile', error: error ?? 'no runtime' }
  const what = `compiling ${task.spec.name}:${task.spec.version} for ${task.spec.device}`
  // Cold: a fresh backend (its own Core) into the empty CACHE_DIR the parent made.
  const cold = new OpenvinoBackend({ runtime })
  let started = performance.now()
  try {
    const model = await withTimeLimit(cold.load(task.spec), task.compileTimeoutMs, what)
    const coldMs = performance.now() - started
    await withTimeLimit(model.unload(), task.spec.inferTimeoutMs, `unloading ${task.spec.name}`)
    await cold.close()
    const cacheFiles = task.spec.cacheDir ? countFiles(task.spec.cacheDir) : 0
    // Warm: another Core, so only CACHE_DIR can make this compile faster.
    const warm = new OpenvinoBackend({ runtime })
    started = performance.now()
    let loaded: Awaited<ReturnType<OpenvinoBackend['load']>>
    try {
      loaded = await withTimeLimit(warm.load(task.spec), task.compileTimeoutMs, `re-${what}`)
    } catch (err) {
      return { kind: 'model', ok: false, stage: 'warm-compile', error: messageOf(err) }
    }
    const warmMs = performance.now() - started
    const inputs = goldenInputs(loaded.inputs)
    try {
      const outputs = await withTimeLimit(
        loaded.infer(inputs),
        task.spec.inferTimeoutMs,
        `the golden inference of ${task.spec.name}`,
      )
      return {
        kind: 'model',
        ok: true,
        device: loaded.device,
        precision: loaded.precision,
        coldMs,
        warmMs,
        cacheFiles,
        inputs: mapValues(inputs, toWire),
        outputs: mapValues(outputs, toWire),
      }
    } catch (err) {
      return { kind: 'model', ok: false, stage: 'infer', error: messageOf(err) }
    }
  } catch (err) {
    return { kind: 'model', ok: false, stage: 'compile', error: messageOf(err) }
  }
}

async function run(task: OpenvinoTask): Promise<OpenvinoTaskResult> {
  return task.kind === 'probe' ? probe(task.source) : checkModel(task)
}

const chunks: Buffer[] = []
for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
const task = JSON.parse(Buffer.concat(chunks).toString('utf8')) as OpenvinoTask
const result = await run(task)
writeSync(RESULT_FD, `${JSON.stringify(result)}\n`)
// Native threads (a request that never settled) must not keep the child alive; the parent also kills it.
process.exit(0)
