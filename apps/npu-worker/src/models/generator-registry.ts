import type { BackendName } from '@npu-fleet/protocol'
import type { FastifyBaseLogger } from 'fastify'
import type { AbandonedCall, BackendProbe } from '../backends/backend.js'
import { isDeviceListed } from '../backends/device-name.js'
import type {
  GenerationBackend,
  GenerationRuntime,
  GeneratorLoadSpec,
} from '../generation/generation-backend.js'
import { generationOnnxPath } from '../generation/generation-files.js'
import type { TextGenerator } from '../generation/text-generator.js'
import {
  type GeneratorGolden,
  generatorReferenceRecord,
  goldenText,
  runGeneratorSelfTest,
} from './generator-self-test.js'
import type { ModelDefaults } from './model-load-spec.js'
import type { ModelVersionSpec } from './model-repository.js'
import { type GeneratorServing, RegisteredGenerator } from './registered-generator.js'
import type { SelfTestRecord } from './self-test.js'
import { SelfTestRounds } from './self-test-rounds.js'
import { unloadWithin } from './unload-within.js'

/** The runtimes language models load with. */
export interface GenerationBackends {
  /** OpenVINO GenAI's `LLMPipeline` (NPU, CPU). */
  genai: GenerationBackend
  /** The worker's ONNX Runtime engine (CPU); also computes the self-test references. */
  onnxruntime: GenerationBackend
}

/** Runtimes of a registry without language models: nothing is ever loaded with them. */
export const NO_GENERATION: GenerationBackends = (() => {
  const none = {
    probe: async () => ({ available: false, version: null, devices: [], error: 'no generation runtime' }),
    cannotLoad: () => 'no generation runtime',
    load: async (): Promise<never> => {
      throw new Error('no generation runtime')
    },
    abandonedCalls: () => [],
    close: async () => {},
  }
  return {
    genai: { ...none, name: 'openvino', runtime: 'openvino_genai' },
    onnxruntime: { ...none, name: 'onnxruntime', runtime: 'onnxruntime' },
  }
})()

/** Options of the generator registry. */
export interface GeneratorRegistryOptions {
  /** Model versions with a `generation:` section. */
  specs: ModelVersionSpec[]
  backends: GenerationBackends
  defaults: ModelDefaults
  cacheDir: string | null
  log: Pick<FastifyBaseLogger, 'info' | 'warn' | 'error'>
  /** Seconds between self-tests; 0 = only at load. */
  selfTestIntervalSeconds?: number
}

/** One step of a language model's fallback chain. */
interface LoadAttempt {
  runtime: GenerationRuntime
  device: string
}

/** Extra time an unload or a self-test gets beyond the model's step limit before it is given up on. */
const GRACE_MS = 5_000
/** Limit of loading one language model: NPU compiles of a decoder take from seconds to minutes. */
const LOAD_LIMIT_MS = 300_000

const RUNTIME_LABEL: Record<GenerationRuntime, string> = {
  openvino_genai: 'OpenVINO GenAI',
  onnxruntime: 'ONNX Runtime',
}

/**
 * Holds every language-model version and loads each through its own fallback chain: OpenVINO GenAI on each
 * preferred device, then GenAI on the CPU, then the ONNX Runtime engine on the CPU; every step that does not
 * serve is recorded with its reason, and a step serves only once its self-test passes (a greedy generation
 * compared with the ONNX Runtime engine's). Reruns the self-tests every interval; unloads within bounded time.
 */
export class GeneratorRegistry {
  readonly #models: RegisteredGenerator[]
  readonly #options: GeneratorRegistryOptions
  #probes: Record<GenerationRuntime, BackendProbe> | null = null
  readonly #selfTests: SelfTestRounds
  #stopped = false

  constructor(options: GeneratorRegistryOptions) {
    this.#options = options
    this.#selfTests = new SelfTestRounds(options.selfTestIntervalSeconds ?? 0, () => this.#selfTestRound())
    this.#models = options.specs.map((spec) => new RegisteredGenerator(spec))
  }

  /** Every registered version. */
  all(): RegisteredGenerator[] {
    return [...this.#models]
  }

  /** Names of all language models, sorted. */
  get names(): string[] {
    return [...new Set(this.#models.map((m) => m.name))].sort()
  }

  /** Versions of one model, highest first. */
  versions(name: string): RegisteredGenerator[] {
    return this.#models.filter((m) => m.name === name).sort((a, b) => Number(b.version) - Number(a.version))
  }

  /** A specific version, or (without one) the highest version that can serve now, else the highest. */
  resolve(name: string, version?: string): RegisteredGenerator | undefined {
    const versions = this.versions(name)
    if (version !== undefined) return versions.find((m) => m.version === version)
    return versions.find((m) => m.ready() !== null) ?? versions[0]
  }

  /** When the last self-test of any language model ran (epoch ms), or null. */
  get lastSelfTestAt(): number | null {
    return this.#selfTests.lastRunAt
  }

  /** Native work given up on and still running, across both runtimes. */
  abandonedCalls(): AbandonedCall[] {
    const { genai, onnxruntime } = this.#options.backends
    return [...genai.abandonedCalls(), ...onnxruntime.abandonedCalls()]
  }

  /** Probes both runtimes and loads every version, one at a time; never throws. Then starts the self-tests. */
  async loadAll(): Promise<void> {
    const { genai, onnxruntime } = this.#options.backends
    const [g, o] = await Promise.all([genai.probe(), onnxruntime.probe()])
    this.#probes = { openvino_genai: g, onnxruntime: o }
    // One at a time: a language model is the biggest thing a worker loads.
    for (const model of this.#models) {
      if (this.#stopped) break
      await this.#load(model)
    }
    this.#selfTests.start()
  }

  /** Reruns every serving model's golden generation now, one at a time; recovering ones are skipped. */
  selfTestAll(): Promise<void> {
    return this.#selfTests.runNow()
  }

  async #selfTestRound(): Promise<void> {
    for (const m of this.#models) {
      const serving = m.serving()
      if (!serving || m.state.kind === 'recovering' || this.#stopped) continue
      const record = await runGeneratorSelfTest(
        serving.generator,
        serving.golden,
        this.#limitMs(m) * 2 + GRACE_MS,
      )
      if (m.serving() !== serving) continue
      this.#selfTests.record(record.at)
      this.#logSelfTest(m, record, m.selfTest)
      m.recordSelfTest(record)
    }
  }

  /** Stops the self-tests and unloads every model, each within its step limit plus a grace, else given up on. */
  async unloadAll(): Promise<void> {
    this.#stopped = true
    this.#selfTests.stop()
    await Promise.all(
      this.#models.map(async (m) => {
        const generator = m.serving()?.generator
        m.unloading()
        if (generator) await this.#unload(m, generator)
      }),
    )
  }

  #unload(m: RegisteredGenerator, generator: TextGenerator): Promise<void> {
    return unloadWithin(m, generator, this.#limitMs(m) + GRACE_MS, this.#options.log)
  }

  /** The model's hard limit of one step: `generation.step_timeout_ms`, else `inference_timeout_ms`. */
  #limitMs(m: RegisteredGenerator): number {
    return (
      m.section.step_timeout_ms ?? m.manifest.inference_timeout_ms ?? this.#options.defaults.inferTimeoutMs
    )
  }

  /** GenAI on each preferred device, then GenAI on the CPU, then the ONNX Runtime engine on the CPU. */
  #attempts(m: RegisteredGenerator): LoadAttempt[] {
    const attempts: LoadAttempt[] = m.manifest.devices.map((device) => ({
      runtime: 'openvino_genai',
      device,
    }))
    if (!m.manifest.devices.includes('CPU')) attempts.push({ runtime: 'openvino_genai', device: 'CPU' })
    attempts.push({ runtime: 'onnxruntime', device: 'CPU' })
    return attempts
  }

  #backend(runtime: GenerationRuntime): GenerationBackend {
    return runtime === 'openvino_genai' ? this.#options.backends.genai : this.#options.backends.onnxruntime
  }

  #loadSpec(m: RegisteredGenerator, device: string): GeneratorLoadSpec {
    return {
      name: m.name,
      version: m.version,
      modelPath: m.spec.modelPath,
      modelDir: m.spec.modelDir,
      device,
      section: m.section,
      threads: m.manifest.threads ?? this.#options.defaults.threads,
      stepTimeoutMs: this.#limitMs(m),
      loadTimeoutMs: LOAD_LIMIT_MS,
      cacheDir: this.#options.cacheDir,
    }
  }

  /** Why an attempt cannot work, known without trying it. */
  #skipReason(attempt: LoadAttempt, spec: GeneratorLoadSpec): string | null {
    const probe = this.#probes?.[attempt.runtime]
    const label = RUNTIME_LABEL[attempt.runtime]
    if (probe && !probe.available) return `${label} runtime unavailable: ${probe.error ?? 'unknown reason'}`
    if (probe && !isDeviceListed(probe.devices, attempt.device)) {
      return `device ${attempt.device} not present (${label} devices: ${probe.devices.join(', ') || 'none'})`
    }
    const cannot = this.#backend(attempt.runtime).cannotLoad(spec)
    return cannot === null ? null : `${label}: ${cannot}`
  }

  async #load(m: RegisteredGenerator): Promise<void> {
    const { log } = this.#options
    for (const attempt of this.#attempts(m)) {
      const backend = this.#backend(attempt.runtime)
      const step = { backend: backend.name as BackendName, device: attempt.device }
      const spec = this.#loadSpec(m, attempt.device)
      const skip = this.#skipReason(attempt, spec)
      if (skip) {
        m.recordFallback({ ...step, reason: skip })
        continue
      }
      let generator: TextGenerator
      try {
        generator = await backend.load(spec)
      } catch (error) {
        m.recordFallback({
          ...step,
          reason: `${RUNTIME_LABEL[attempt.runtime]}: ${(error as Error).message}`,
        })
        continue
      }
      const checked = await this.#selfTestAtLoad(m, attempt.runtime, generator)
      this.#selfTests.record(checked.record.at)
      if (checked.record.result === 'drift' || checked.record.result === 'error') {
        // A device that answers wrongly at load is not served: the next step of the chain is.
        m.recordFallback({
          ...step,
          reason: `${RUNTIME_LABEL[attempt.runtime]}: self-test ${checked.record.result}: ${checked.record.message}`,
        })
        this.#logSelfTest(m, checked.record, null)
        await this.#unload(m, generator)
        continue
      }
      const serving: GeneratorServing = { generator, runtime: attempt.runtime, golden: checked.golden }
      m.serve(serving, checked.record)
      log[m.fallbackChain.length > 0 ? 'warn' : 'info'](
        {
          model: m.name,
          version: m.version,
          runtime: attempt.runtime,
          device: attempt.device,
          fallback: m.fallbackChain,
          self_test: checked.record.result,
        },
        'language model ready',
      )
      return
    }
    m.fail(
      m.fallbackChain.map((s) => `${s.backend}/${s.device}: ${s.reason}`).join('; ') ||
        'no runtime can load it',
    )
    log.error(
      { model: m.name, version: m.version, fallback: m.fallbackChain },
      'language model failed to load',
    )
  }

  /**
   * The golden reference and the load-time self-test. The ONNX Runtime engine's own answer is the reference
   * when it serves the model; a GenAI pipeline is compared with the engine run on the ONNX decoder beside the IR,
   * or reports `no_reference` when there is none.
   */
  async #selfTestAtLoad(
    m: RegisteredGenerator,
    runtime: GenerationRuntime,
    generator: TextGenerator,
  ): Promise<{ golden: GeneratorGolden; record: SelfTestRecord }> {
    const limit = this.#limitMs(m) * 2 + GRACE_MS
    if (runtime === 'onnxruntime') {
      try {
        const expected = await goldenText(generator, limit)
        const golden: GeneratorGolden = {
          expected,
          reference: 'onnxruntime_cpu',
          note: "the reference is the ONNX Runtime engine's own greedy answer at load",
          fromServedModel: true,
        }
        return { golden, record: generatorReferenceRecord(generator, golden) }
      } catch (error) {
        const golden: GeneratorGolden = {
          expected: null,
          reference: null,
          note: 'no reference',
          fromServedModel: true,
        }
        const record: SelfTestRecord = {
          result: 'error',
          at: Date.now(),
          reference: null,
          precision: generator.precision,
          tolerance: null,
          maxAbsError: null,
          mismatches: null,
          elements: null,
          durationMs: null,
          message: `the golden generation failed on onnxruntime/CPU: ${(error as Error).message}`,
        }
        return { golden, record }
      }
    }
    const golden = await this.#reference(m)
    return { golden, record: await runGeneratorSelfTest(generator, golden, limit) }
  }

  /** The ONNX Runtime engine's greedy answer on the CPU, in an engine started for it and unloaded after. */
  async #reference(m: RegisteredGenerator): Promise<GeneratorGolden> {
    if (!generationOnnxPath(m.spec.modelPath)) {
      return {
        expected: null,
        reference: null,
        note: 'no reference: no ONNX decoder beside the OpenVINO IR to compute one with ONNX Runtime',
        fromServedModel: false,
      }
    }
    const spec = this.#loadSpec(m, 'CPU')
    let engine: TextGenerator | null = null
    try {
      engine = await this.#options.backends.onnxruntime.load({
        ...spec,
        section: { ...spec.section, max_sequences: 1 },
      })
      const expected = await goldenText(engine, this.#limitMs(m) * 2 + GRACE_MS)
      return {
        expected,
        reference: 'onnxruntime_cpu',
        note: "reference: the ONNX Runtime engine's greedy answer on the CPU at load",
        fromServedModel: false,
      }
    } catch (error) {
      return {
        expected: null,
        reference: null,
        note: `no reference: the ONNX Runtime engine could not compute one (${(error as Error).message})`,
        fromServedModel: false,
      }
    } finally {
      if (engine) await this.#unload(m, engine)
    }
  }

  #logSelfTest(m: RegisteredGenerator, record: SelfTestRecord, previous: SelfTestRecord | null): void {
    const bad = record.result === 'drift' || record.result === 'error'
    if (!bad && previous?.result === record.result) return
    const fields = { model: m.name, version: m.version, self_test: record.result, message: record.message }
    if (bad) this.#options.log.error(fields, `self-test ${record.result}`)
    else if (previous) this.#options.log.info(fields, `self-test ${record.result} again`)
  }
}
