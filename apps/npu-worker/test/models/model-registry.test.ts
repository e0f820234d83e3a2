import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { type ModelManifest, ModelManifestSchema } from '../../src/models/model-manifest.js'
import { ModelRegistry, type ModelRegistryOptions } from '../../src/models/model-registry.js'
import type { ModelVersionSpec } from '../../src/models/model-repository.js'
import { ScriptedBackend } from '../helpers/scripted-model.js'

// The registry's lifecycle logic with scripted backends (no runtime): the fallback chain and its self-test gate,
// periodic self-tests with fake timers, the state following the backend's condition, bounded unloads.

const manifest = (yaml: Record<string, unknown> = {}): ModelManifest => ModelManifestSchema.parse(yaml)

function spec(
  name: string,
  m: ModelManifest = manifest(),
  modelPath = `/models/${name}/1/model.onnx`,
): ModelVersionSpec {
  return { name, version: '1', manifest: m, modelPath, modelDir: `/models/${name}` }
}

interface Harness {
  registry: ModelRegistry
  openvino: ScriptedBackend
  onnxruntime: ScriptedBackend
  logs: Array<{ level: string; msg: string; fields: Record<string, unknown> }>
}

function harness(
  specs: ModelVersionSpec[],
  options: Partial<ModelRegistryOptions> & { ovDevices?: string[] } = {},
): Harness {
  const openvino = new ScriptedBackend('openvino', options.ovDevices ?? ['CPU', 'NPU'], 'FP16')
  const onnxruntime = new ScriptedBackend('onnxruntime', ['CPU'])
  const logs: Harness['logs'] = []
  const log = (level: string) => (fields: Record<string, unknown>, msg: string) =>
    logs.push({ level, msg, fields })
  const registry = new ModelRegistry({
    specs,
    backends: { openvino, onnxruntime },
    defaults: {
      threads: 1,
      instances: 2,
      instanceIdleTimeoutMs: null,
      queueMaxQueued: 8,
      performanceHint: 'LATENCY',
      inferTimeoutMs: 1_000,
    },
    cacheDir: null,
    log: {
      info: log('info'),
      warn: log('warn'),
      error: log('error'),
    } as unknown as ModelRegistryOptions['log'],
    ...options,
  })
  return { registry, openvino, onnxruntime, logs }
}

afterEach(() => {
  vi.useRealTimers()
})

describe('ModelRegistry: the fallback chain and its self-test gate', () => {
  it('a bug while loading one model fails that model with the reason, never the others or the process', async () => {
    const broken = spec('broken')
    // A manifest that throws when read stands for any unexpected error inside a model's load.
    const throwing = new Proxy(broken.manifest, {
      get(target, key) {
        if (key === 'devices') throw new Error('boom while reading devices')
        return Reflect.get(target, key)
      },
    })
    const { registry, logs } = harness([{ ...broken, manifest: throwing }, spec('m')])
    await registry.loadAll()
    expect(registry.resolve('broken')?.state).toMatchObject({
      kind: 'failed',
      error: 'internal error while loading: boom while reading devices',
    })
    expect(registry.resolve('m')?.state.kind).toBe('ready')
    expect(logs.some((l) => l.level === 'error' && l.msg === 'model load crashed')).toBe(true)
  })

  it('serves on the first device, after its golden input matched the ONNX Runtime reference', async () => {
    const { registry, openvino, onnxruntime } = harness([spec('m')])
    await registry.loadAll()
    const m = registry.resolve('m')!
    expect(m.state.kind).toBe('ready')
    expect(m.ready()?.device).toBe('NPU')
    expect(openvino.loads.map((l) => l.device)).toEqual(['NPU'])
    // The reference ran on a one-thread ONNX Runtime session, loaded for it and released after.
    expect(onnxruntime.loads).toMatchObject([{ device: 'CPU', instances: 1 }])
    expect(onnxruntime.models[0]?.unloaded).toBe(true)
    expect(m.selfTest).toMatchObject({ result: 'pass', reference: 'onnxruntime_cpu', precision: 'FP16' })
    expect(m.health().self_test).toMatchObject({
      result: 'pass',
      tolerance: { atol: expect.any(Number), rtol: expect.any(Number) },
      elements: 8,
      mismatches: 0,
    })
  })

  it('does not serve a device that answers wrongly at load: the chain goes on, with the reason', async () => {
    const { registry, openvino } = harness([spec('m')])
    openvino.scale = 3 // the "NPU" computes y = 3x where the model says 2x
    await registry.loadAll()
    const m = registry.resolve('m')!
    expect(m.state.kind).toBe('ready')
    expect(m.ready()?.backend).toBe('onnxruntime')
    expect(m.fallbackChain[0]).toMatchObject({
      backend: 'openvino',
      device: 'NPU',
      reason: expect.stringMatching(/^self-test drift: 7 of 8 outputs outside FP16 tolerance/),
    })
    // The wrong model was unloaded, not left holding the device.
    expect(openvino.models.every((model) => model.unloaded)).toBe(true)
  })

  it('matches devices the way the backend does: `GPU` in model.yaml is the `GPU.0` OpenVINO lists', async () => {
    const { registry, openvino } = harness([spec('m', manifest({ devices: ['GPU', 'CPU'] }))], {
      ovDevices: ['CPU', 'GPU.0'],
    })
    await registry.loadAll()
    expect(openvino.loads.map((l) => l.device)).toEqual(['GPU'])
    expect(registry.resolve('m')?.ready()?.device).toBe('GPU')
    expect(registry.resolve('m')?.fallbackChain).toEqual([])
  })

  it('gives an OpenVINO IR with a sibling .onnx an ONNX Runtime step, and one without it no reference', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ir-models-'))
    try {
      // The scripted backends read no file; the registry only looks for the sibling .onnx.
      for (const file of ['with-model.xml', 'with-model.onnx', 'bare-model.xml'])
        writeFileSync(join(dir, file), '')
      const withOnnx = join(dir, 'with-model.xml')
      const bare = join(dir, 'bare-model.xml')
      const { registry, openvino, onnxruntime } = harness([
        spec('with', manifest(), withOnnx),
        spec('bare', manifest(), bare),
      ])
      openvino.failOn.set('NPU', 'NPU compile failed').set('CPU', 'CPU compile failed')
      await registry.loadAll()
      const served = registry.resolve('with')!
      expect(served.ready()?.backend).toBe('onnxruntime')
      expect(onnxruntime.loads.map((l) => l.modelPath)).toEqual([join(dir, 'with-model.onnx')])
      // Without a sibling .onnx there is no ONNX Runtime step: the IR fails on both OpenVINO devices.
      expect(registry.resolve('bare')?.state.kind).toBe('failed')

      const served2 = harness([spec('bare', manifest(), bare)])
      await served2.registry.loadAll()
      expect(served2.registry.resolve('bare')?.selfTest).toMatchObject({
        result: 'no_reference',
        message: expect.stringMatching(/neither a sibling \.onnx nor model\.yaml self_test\.sample/),
      })
      expect(served2.registry.resolve('bare')?.state.kind).toBe('ready')
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('ModelRegistry: periodic self-tests', () => {
  it('marks a model degraded with reason output drift within one interval, and ready again when it heals', async () => {
    vi.useFakeTimers()
    const { registry, openvino, logs } = harness([spec('m')], { selfTestIntervalSeconds: 1 })
    await registry.loadAll()
    const m = registry.resolve('m')!
    expect(m.state.kind).toBe('ready')
    const device = openvino.models[0]!
    device.scale = 2.5 // the device starts returning wrong numbers
    await vi.advanceTimersByTimeAsync(1_000)
    expect(m.state.kind).toBe('degraded')
    expect(m.reason()).toMatch(/^output drift: \d of 8 outputs outside FP16 tolerance .* on openvino\/NPU/)
    // Still serving (a drifting model answers; the pool prefers other workers), and /health says why.
    expect(m.ready()).toBe(device)
    expect(m.health()).toMatchObject({ state: 'degraded', ready: true, self_test: { result: 'drift' } })
    expect(logs.some((l) => l.level === 'error' && l.msg === 'self-test drift')).toBe(true)
    device.scale = 2
    await vi.advanceTimersByTimeAsync(1_000)
    expect(m.state.kind).toBe('ready')
    expect(m.selfTest?.result).toBe('pass')
    expect(registry.lastSelfTestAt).toBe(Date.now())
    await registry.unloadAll()
  })

  it('runs only at load with an interval of 0', async () => {
    vi.useFakeTimers()
    const { registry, openvino } = harness([spec('m')], { selfTestIntervalSeconds: 0 })
    await registry.loadAll()
    const infers = openvino.models[0]!.infers
    await vi.advanceTimersByTimeAsync(3_600_000)
    expect(openvino.models[0]!.infers).toBe(infers)
  })
})

describe('RegisteredModel follows its backend', () => {
  it('ready -> degraded (fewer slots) -> recovering (503 with Retry-After) -> ready, with live parallelism', async () => {
    vi.useFakeTimers()
    const { registry, openvino } = harness([spec('m')])
    await registry.loadAll()
    const m = registry.resolve('m')!
    const model = openvino.models[0]!
    const seen: string[] = []
    m.onStateChange((state) => seen.push(state.kind))
    model.setCondition({ kind: 'impaired', live: 1, reason: '1 of 2 threads down' })
    expect(m.state).toMatchObject({ kind: 'degraded', live: 1, reasons: ['1 of 2 threads down'] })
    expect(m.health().parallelism).toEqual({
      configured: 2,
      loaded: 2,
      live: 1,
      reason: '1 of 2 threads down',
    })
    model.setCondition({
      kind: 'recovering',
      reason: 'every thread down',
      attempt: 3,
      retryAt: Date.now() + 2_500,
    })
    expect(m.ready()).toBeNull()
    expect(m.health()).toMatchObject({ state: 'recovering', ready: false, recovery: { attempt: 3 } })
    expect(m.notReadyError()).toMatchObject({
      code: 'NPU_ERR_MODEL_NOT_READY',
      statusCode: 503,
      data: { retryAfterSeconds: 3 },
      message: expect.stringMatching(/not ready \(recovering: attempt 3, next at .*: every thread down\)/),
    })
    model.setCondition({ kind: 'serving' })
    expect(m.state.kind).toBe('ready')
    expect(seen).toEqual(['degraded', 'recovering', 'ready'])
  })

  it('records the queue turning batching off, so /health reports what runs', async () => {
    const { registry } = harness([spec('m', manifest({ batching: { max_batch_size: 4 } }))])
    await registry.loadAll()
    const m = registry.resolve('m')!
    expect(m.health().batching).toMatchObject({ enabled: true, mode: 'padded', padded_to: 8 })
    m.turnBatchingOff('outputs do not batch along dimension 0: turned off at runtime')
    expect(m.serving()?.batching.policy).toBeNull()
    expect(m.health().batching).toMatchObject({
      enabled: false,
      reason: 'outputs do not batch along dimension 0: turned off at runtime',
    })
  })
})

describe('ModelRegistry.unloadAll', () => {
  it('never waits forever: an unload that does not finish is given up on after the limit, and logged', async () => {
    vi.useFakeTimers()
    const { registry, openvino, logs } = harness([spec('m'), spec('n')])
    await registry.loadAll()
    openvino.models[0]!.unloadGate = new Promise(() => {}) // wedged native resources
    let done = false
    const unloading = registry.unloadAll().then(() => {
      done = true
    })
    await vi.advanceTimersByTimeAsync(1_000)
    expect(done).toBe(false)
    await vi.advanceTimersByTimeAsync(5_000) // inferTimeoutMs (1 s) + the 5 s grace
    await unloading
    expect(openvino.models[1]!.unloaded).toBe(true)
    expect(logs.some((l) => l.level === 'error' && /did not finish within 6000 ms/.test(l.msg))).toBe(true)
    expect(registry.resolve('m')?.state.kind).toBe('unloading')
  })
})
