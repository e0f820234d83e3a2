// The language models' registry with scripted runtimes (logic only; the real runtimes are tested in
// test/generation and in real worker processes): the fallback chain and every step's reason, the self-test gate
// at load (a drifting device is not served), FP16's near-tie allowance, states driven by the generator's
// condition and by periodic self-tests, and a model nothing can load.
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { GeneratorRegistry } from '../../src/models/generator-registry.js'
import { GOLDEN_PROMPT } from '../../src/models/generator-self-test.js'
import { ModelManifestSchema } from '../../src/models/model-manifest.js'
import type { ModelVersionSpec } from '../../src/models/model-repository.js'
import { ScriptedGenerationBackend, type ScriptedGenerator } from '../helpers/scripted-generator.js'

const log = pino({ level: 'silent' })
const available = (devices: string[]) => ({ available: true, version: null, devices, error: null })

/** A model folder with an IR stub, and the ONNX decoder beside it unless `onnx` is false. */
function spec(manifest: object, onnx = true): ModelVersionSpec {
  const dir = mkdtempSync(join(tmpdir(), 'generator-registry-'))
  writeFileSync(join(dir, 'openvino_model.xml'), '')
  if (onnx) writeFileSync(join(dir, 'model.onnx'), '')
  return {
    name: 'llm',
    version: '1',
    manifest: ModelManifestSchema.parse({ generation: { max_sequences: 2 }, ...manifest }),
    modelPath: join(dir, 'openvino_model.xml'),
    modelDir: dir,
  }
}

function registry(
  model: ModelVersionSpec,
  genai = new ScriptedGenerationBackend('openvino', 'openvino_genai', available(['CPU', 'NPU'])),
  onnxruntime = new ScriptedGenerationBackend('onnxruntime', 'onnxruntime', available(['CPU'])),
) {
  const generators = new GeneratorRegistry({
    specs: [model],
    backends: { genai, onnxruntime },
    defaults: {
      threads: 1,
      instances: 1,
      instanceIdleTimeoutMs: null,
      queueMaxQueued: 8,
      performanceHint: 'LATENCY',
      inferTimeoutMs: 1000,
    },
    cacheDir: null,
    log,
  })
  return { generators, genai, onnxruntime, model: () => generators.all()[0]! }
}

describe('GeneratorRegistry', () => {
  it('serves GenAI on the first device that loads, each failed step with its reason, self-tested vs ONNX Runtime', async () => {
    const r = registry(spec({ devices: ['NPU', 'CPU'] }))
    r.genai.failures.NPU = 'NPU compiler error: unsupported operation'
    await r.generators.loadAll()
    const health = r.model().health(8)
    expect(health).toMatchObject({ state: 'ready', backend: 'openvino', device: 'CPU', fallback: true })
    expect(health.fallback_chain).toEqual([
      {
        backend: 'openvino',
        device: 'NPU',
        reason: 'OpenVINO GenAI: NPU compiler error: unsupported operation',
      },
    ])
    expect(health.self_test).toMatchObject({ result: 'pass', reference: 'onnxruntime_cpu' })
    // The reference came from an ONNX Runtime engine started for it, and released after.
    expect(r.onnxruntime.loaded).toHaveLength(1)
    expect(r.onnxruntime.loaded[0]?.unloaded).toBe(true)
    expect(health.generation).toMatchObject({ runtime: 'openvino_genai', max_sequences: 2, max_queued: 8 })
  })

  it('without GenAI, each GenAI step says why and the ONNX Runtime engine serves (its own answer the reference)', async () => {
    const genai = new ScriptedGenerationBackend('openvino', 'openvino_genai', {
      available: false,
      version: null,
      devices: [],
      error: 'openvino-genai-node cannot be loaded: its native addon x.node is missing',
    })
    const r = registry(spec({ devices: ['NPU'] }), genai)
    await r.generators.loadAll()
    const health = r.model().health(8)
    const reason =
      'OpenVINO GenAI runtime unavailable: openvino-genai-node cannot be loaded: its native addon x.node is missing'
    expect(health.fallback_chain).toEqual([
      { backend: 'openvino', device: 'NPU', reason },
      { backend: 'openvino', device: 'CPU', reason },
    ])
    expect(health).toMatchObject({ state: 'ready', backend: 'onnxruntime', device: 'CPU' })
    expect(health.self_test?.message).toMatch(/own greedy answer at load/)
    expect(r.onnxruntime.loaded).toHaveLength(1)
  })

  it('skips a device the runtime does not list, and a folder without an IR, saying so', async () => {
    const genai = new ScriptedGenerationBackend(
      'openvino',
      'openvino_genai',
      available(['CPU']),
      () => 'no IR here',
    )
    const r = registry(spec({ devices: ['NPU', 'CPU'] }), genai)
    await r.generators.loadAll()
    expect(r.model().fallbackChain).toEqual([
      { backend: 'openvino', device: 'NPU', reason: 'device NPU not present (OpenVINO GenAI devices: CPU)' },
      { backend: 'openvino', device: 'CPU', reason: 'OpenVINO GenAI: no IR here' },
    ])
    expect(r.model().ready()?.backend).toBe('onnxruntime')
  })

  it('does not serve a device whose greedy answer drifts from the reference; the next step is served', async () => {
    const r = registry(spec({ devices: ['NPU', 'CPU'] }))
    r.genai.precision.NPU = 'FP16'
    r.genai.garble.NPU = (answer) => `#${answer}`
    await r.generators.loadAll()
    const [step] = r.model().fallbackChain
    expect(step).toMatchObject({ backend: 'openvino', device: 'NPU' })
    expect(step?.reason).toMatch(
      /^OpenVINO GenAI: self-test drift: greedy answer .* differ from the first character/,
    )
    expect(r.genai.loaded[0]?.unloaded).toBe(true)
    expect(r.model().ready()?.device).toBe('CPU')
  })

  it('lets an FP16 device pass when it agrees on at least the first half (a near-tie flipped later)', async () => {
    const r = registry(spec({ devices: ['NPU'] }))
    r.genai.precision.NPU = 'FP16'
    r.genai.garble.NPU = (answer) => `${answer.slice(0, 5)}#${answer.slice(6)}`
    await r.generators.loadAll()
    const test = r.model().selfTest
    expect(r.model().ready()?.device).toBe('NPU')
    expect(test).toMatchObject({ result: 'pass', mismatches: 3, elements: 8 })
    expect(test?.message).toMatch(/agree on the first 5 of 8 characters/)
  })

  it('reports no_reference, truthfully, for an IR without an ONNX decoder beside it', async () => {
    const r = registry(spec({ devices: ['NPU'] }, false))
    await r.generators.loadAll()
    expect(r.model().ready()?.device).toBe('NPU')
    expect(r.model().selfTest).toMatchObject({ result: 'no_reference', reference: null })
    expect(r.model().selfTest?.message).toMatch(/no ONNX decoder beside the OpenVINO IR/)
  })

  it("follows the generator's condition: recovering (503 with Retry-After), then ready again", async () => {
    const r = registry(spec({ devices: ['CPU'] }))
    await r.generators.loadAll()
    const generator = r.model().ready() as ScriptedGenerator
    generator.setCondition({
      kind: 'recovering',
      reason: 'pipeline replaced',
      attempt: 1,
      retryAt: Date.now() + 3000,
    })
    expect(r.model().state.kind).toBe('recovering')
    expect(r.model().ready()).toBeNull()
    expect(r.model().notReadyError()).toMatchObject({
      statusCode: 503,
      data: { retryAfterSeconds: expect.any(Number) },
    })
    expect(r.model().health(8)).toMatchObject({
      ready: false,
      recovery: { attempt: 1 },
      parallelism: { live: 0 },
    })
    generator.setCondition({ kind: 'serving' })
    expect(r.model().state.kind).toBe('ready')
  })

  it('a periodic self-test that drifts degrades the model; the next that passes makes it ready', async () => {
    const r = registry(spec({ devices: ['CPU'] }))
    await r.generators.loadAll()
    const generator = r.model().ready() as ScriptedGenerator
    generator.garble = (answer) => answer.toUpperCase()
    await r.generators.selfTestAll()
    expect(r.model().state.kind).toBe('degraded')
    expect(r.model().reason()).toMatch(/^output drift: greedy answer/)
    generator.garble = null
    await r.generators.selfTestAll()
    expect(r.model().state.kind).toBe('ready')
    expect(GOLDEN_PROMPT.kind).toBe('completion')
  })

  it('fails a model no step can load, summing up every step', async () => {
    const r = registry(spec({ devices: ['CPU'] }))
    r.genai.failures.CPU = 'no memory'
    r.onnxruntime.failures.CPU = 'bad decoder'
    await r.generators.loadAll()
    expect(r.model().state).toMatchObject({
      kind: 'failed',
      error: 'openvino/CPU: OpenVINO GenAI: no memory; onnxruntime/CPU: ONNX Runtime: bad decoder',
    })
    await r.generators.unloadAll()
    expect(r.model().state.kind).toBe('unloading')
  })
})
