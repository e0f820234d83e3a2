import type { BackendName } from '@npu-fleet/protocol'
import type { FastifyBaseLogger } from 'fastify'
import type {
  AbandonedCall,
  BackendProbe,
  InferenceBackend,
  LoadedModel,
  ModelLoadSpec,
} from '../backends/backend.js'
import { isDeviceListed } from '../backends/device-name.js'
import { batchingPolicy } from './batching-policy.js'
import { GeneratorRegistry, NO_GENERATION } from './generator-registry.js'
import { prepareGoldenCase, referenceOnnxPath } from './golden-case.js'
import { loadSpecFor, type ModelDefaults } from './model-load-spec.js'
import type { ModelVersionSpec } from './model-repository.js'
import { RegisteredModel } from './registered-model.js'
import { referenceRecord, runSelfTest, type SelfTestRecord } from './self-test.js'
import { SelfTestRounds } from './self-test-rounds.js'
import { unloadWithin } from './unload-within.js'
import { runWarmup } from './warmup.js'

export type { ModelDefaults } from './model-load-spec.js'
export { RegisteredModel } from './registered-model.js'

/** Options of the registry. */
export interface ModelRegistryOptions {
  specs: ModelVersionSpec[]
  backends: { openvino: InferenceBackend; onnxruntime: InferenceBackend }
  /** ONNX Runtime sessions that compute self-test references on the CPU; default `backends.onnxruntime`. */
  reference?: InferenceBackend
  defaults: ModelDefaults
  cacheDir: string | null
  log: Pick<FastifyBaseLogger, 'info' | 'warn' | 'error'>
  /** Models loading at once: compiling is CPU- and memory-heavy, and the port must stay responsive. */
  loadConcurrency?: number
  /** Seconds between self-tests of every model (`self_test_interval_seconds`); 0 = only at load. */
  selfTestIntervalSeconds?: number
  /** The language models (`generation:` in model.yaml), loaded, unloaded and accounted for with these. */
  generators?: GeneratorRegistry
}

/** One step of the fallback chain. */
interface LoadAttempt {
  backend: BackendName
  device: string
  /** The file this step loads: the model's, or an OpenVINO IR's sibling `.onnx` for ONNX Runtime. */
  modelPath: string
}

/** Extra time an unload or a self-test gets beyond the model's hard inference limit before it is given up on. */
const GRACE_MS = 5_000

/**
 * Holds every model version, loads each through the fallback chain (a step serves only once its self-test
 * passes), reruns the self-tests every interval, and unloads them at shutdown within bounded time.
 */
export class ModelRegistry {
  readonly #models: RegisteredModel[]
  readonly #options: ModelRegistryOptions
  readonly #generators: GeneratorRegistry
  #probes: Record<BackendName, BackendProbe> | null = null
  readonly #selfTests: SelfTestRounds
  #stopped = false

  constructor(options: ModelRegistryOptions) {
    this.#options = options
    this.#selfTests = new SelfTestRounds(options.selfTestIntervalSeconds ?? 0, () => this.#selfTestRound())
    this.#generators =
      options.generators ??
      new GeneratorRegistry({
        specs: [],
        backends: NO_GENERATION,
        defaults: options.defaults,
        cacheDir: null,
        log: options.log,
      })
    this.#models = options.specs.map((spec) => this.create(spec))
  }

  /** The language models, loaded, unloaded and accounted for with the others (empty without any). */
  get generators(): GeneratorRegistry {
    return this.#generators
  }

  /** Backend probes from the last `loadAll` (null before it). */
  get probes(): Record<BackendName, BackendProbe> | null {
    return this.#probes
  }

  /** Names of all models, sorted. */
  get names(): string[] {
    return [...new Set(this.#models.map((m) => m.name))].sort()
  }

  /** Seconds between periodic self-tests; 0 when they run only at load. */
  get selfTestIntervalSeconds(): number {
    return this.#selfTests.intervalSeconds
  }

  /** When the last self-test of any model ran (epoch ms), or null. */
  get lastSelfTestAt(): number | null {
    return this.#selfTests.lastRunAt
  }

  /** Every registered version. */
  all(): RegisteredModel[] {
    return [...this.#models]
  }

  /** Versions of one model, highest first. */
  versions(name: string): RegisteredModel[] {
    return this.#models.filter((m) => m.name === name).sort((a, b) => Number(b.version) - Number(a.version))
  }

  /** A specific version, or (without one) the highest version that can serve now, else the highest. */
  resolve(name: string, version?: string): RegisteredModel | undefined {
    const versions = this.versions(name)
    if (version !== undefined) return versions.find((m) => m.version === version)
    return versions.find((m) => m.ready() !== null) ?? versions[0]
  }

  /** Native calls abandoned after their hard limit and still running, across both backends and the language models. */
  abandonedCalls(): AbandonedCall[] {
    const { openvino, onnxruntime } = this.#options.backends
    return [
      ...(openvino.abandonedCalls?.() ?? []),
      ...(onnxruntime.abandonedCalls?.() ?? []),
      ...this.#generators.abandonedCalls(),
    ]
  }

  /**
   * Probes both backends, then loads every version; never throws (failures are recorded per model). Then
   * starts the periodic self-tests when an interval is configured.
   */
  async loadAll(): Promise<void> {
    const { openvino, onnxruntime } = this.#options.backends
    const [ov, ort] = await Promise.all([openvino.probe(), onnxruntime.probe()])
    this.#probes = { openvino: ov, onnxruntime: ort }
    const queue = [...this.#models]
    const runners = Array.from({ length: Math.max(1, this.#options.loadConcurrency ?? 2) }, async () => {
      for (let next = queue.shift(); next; next = queue.shift()) await this.load(next)
    })
    // Language models load beside the others, one at a time, through their own fallback chain.
    await Promise.all([...runners, this.#generators.loadAll()])
    this.#selfTests.start()
  }

  /**
   * Reruns every loaded model's golden input now, one model at a time, and records each result (drift
   * degrades the model, a pass clears it). Models recovering are skipped. Resolves when the round is done.
   */
  selfTestAll(): Promise<void> {
    return this.#selfTests.runNow()
  }

  async #selfTestRound(): Promise<void> {
    for (const m of this.#models) {
      const serving = m.serving()
      if (!serving || m.state.kind === 'recovering' || this.#stopped) continue
      const record = await runSelfTest(serving.model, serving.golden, this.#limitMs(m) + GRACE_MS)
      // The model may have unloaded or been replaced while the test ran.
      if (m.serving() !== serving) continue
      this.#selfTests.record(record.at)
      this.#logSelfTest(m, record, m.selfTest)
      m.recordSelfTest(record)
    }
  }

  /**
   * Stops the self-tests and unloads every loaded model. Each unload waits for its running inferences at most
   * the model's hard limit (plus a grace); one that takes longer is given up on and logged, never waited for.
   */
  async unloadAll(): Promise<void> {
    this.#stopped = true
    this.#selfTests.stop()
    await Promise.all([
      this.#generators.unloadAll(),
      ...this.#models.map(async (m) => {
        const model = m.serving()?.model
        m.unloading()
        if (!model) return
        await this.#unload(m, model)
      }),
    ])
  }

  /** A registered model for `spec` (not held yet: see {@link add}), in its `loading` state. */
  create(spec: ModelVersionSpec): RegisteredModel {
    return new RegisteredModel(spec, loadSpecFor(spec, 'CPU', this.#options.defaults, null).instances)
  }

  /** Holds `model`: routes, health and metrics see it from now on. */
  add(model: RegisteredModel): void {
    if (!this.#models.includes(model)) this.#models.push(model)
  }

  /** Stops holding `model` (new requests no longer find it); its unload is the caller's ({@link unload}). */
  remove(model: RegisteredModel): void {
    const index = this.#models.indexOf(model)
    if (index >= 0) this.#models.splice(index, 1)
  }

  /** Loads one model through the fallback chain; never throws (the outcome is its state). */
  async load(m: RegisteredModel): Promise<void> {
    try {
      await this.#load(m)
    } catch (error) {
      // A bug while loading one model must cost that model, never the process (or the other models).
      this.#options.log.error({ err: error, model: m.name, version: m.version }, 'model load crashed')
      m.fail(`internal error while loading: ${(error as Error).message}`)
    }
  }

  /** Unloads one model within bounded time (see {@link unloadAll}); callers drain its queue first. */
  async unload(m: RegisteredModel): Promise<void> {
    const model = m.serving()?.model
    m.unloading()
    if (model) await this.#unload(m, model)
  }

  #unload(m: RegisteredModel, model: LoadedModel): Promise<void> {
    return unloadWithin(m, model, this.#limitMs(m) + GRACE_MS, this.#options.log)
  }

  /** The model's hard limit of one inference (model.yaml, else the worker default). */
  #limitMs(m: RegisteredModel): number {
    return loadSpecFor(m.spec, 'CPU', this.#options.defaults, null).inferTimeoutMs
  }

  /**
   * The fallback chain: OpenVINO on each preferred device, then OpenVINO CPU, then ONNX Runtime CPU (an ONNX
   * model, or an IR with a sibling `.onnx` of the same name).
   */
  #attempts(m: RegisteredModel): LoadAttempt[] {
    const { modelPath } = m
    const attempts: LoadAttempt[] = m.manifest.devices.map((device) => ({
      backend: 'openvino',
      device,
      modelPath,
    }))
    if (!m.manifest.devices.includes('CPU')) attempts.push({ backend: 'openvino', device: 'CPU', modelPath })
    const onnx = referenceOnnxPath(modelPath)
    if (onnx) attempts.push({ backend: 'onnxruntime', device: 'CPU', modelPath: onnx })
    return attempts
  }

  async #load(m: RegisteredModel): Promise<void> {
    const { log } = this.#options
    for (const attempt of this.#attempts(m)) {
      const step = { backend: attempt.backend, device: attempt.device }
      const skip = this.#skipReason(attempt)
      if (skip) {
        m.recordFallback({ ...step, reason: skip })
        continue
      }
      let loaded: LoadedModel
      try {
        loaded = await this.#options.backends[attempt.backend].load(this.#loadSpec(m, attempt))
      } catch (error) {
        m.recordFallback({ ...step, reason: (error as Error).message })
        continue
      }
      const golden = await prepareGoldenCase({
        spec: m.spec,
        loaded,
        loadedPath: attempt.modelPath,
        reference: this.#options.reference ?? this.#options.backends.onnxruntime,
        referenceSpec: (onnxPath) => ({
          ...this.#loadSpec(m, { backend: 'onnxruntime', device: 'CPU', modelPath: onnxPath }),
          instances: 1,
        }),
        limitMs: this.#limitMs(m) + GRACE_MS,
      })
      const selfTest = golden.fromServedModel
        ? referenceRecord(loaded, golden)
        : await runSelfTest(loaded, golden, this.#limitMs(m) + GRACE_MS)
      this.#selfTests.record(selfTest.at)
      if (selfTest.result === 'drift' || selfTest.result === 'error') {
        // A device that answers wrongly at load is not served: the next step of the chain is.
        m.recordFallback({ ...step, reason: `self-test ${selfTest.result}: ${selfTest.message}` })
        this.#logSelfTest(m, selfTest, null)
        await this.#unload(m, loaded)
        continue
      }
      const serving = { model: loaded, batching: batchingPolicy(m.manifest, loaded), golden }
      const { warmup } = m.manifest
      if (warmup) {
        try {
          m.recordWarmup(await runWarmup(m.spec, loaded, warmup, (plan) => m.warming(serving, plan)))
        } catch (error) {
          // A device that cannot run the warmup is not served: the next step of the chain is.
          m.recordFallback({ ...step, reason: `warmup failed: ${(error as Error).message}` })
          m.loading()
          await this.#unload(m, loaded)
          continue
        }
      }
      m.serve(serving, selfTest)
      const level = m.fallbackChain.length > 0 ? 'warn' : 'info'
      log[level](
        {
          model: m.name,
          version: m.version,
          backend: attempt.backend,
          device: attempt.device,
          fallback: m.fallbackChain,
          self_test: selfTest.result,
          ...(m.warmup ? { warmup_ms: Math.round(m.warmup.durationMs ?? 0) } : {}),
        },
        'model ready',
      )
      return
    }
    m.fail(
      m.fallbackChain.map((s) => `${s.backend}/${s.device}: ${s.reason}`).join('; ') ||
        'no backend can load it',
    )
    log.error({ model: m.name, version: m.version, fallback: m.fallbackChain }, 'model failed to load')
  }

  /** Logs a self-test that changed the verdict, or that failed. */
  #logSelfTest(m: RegisteredModel, record: SelfTestRecord, previous: SelfTestRecord | null): void {
    const bad = record.result === 'drift' || record.result === 'error'
    if (!bad && previous?.result === record.result) return
    const fields = { model: m.name, version: m.version, self_test: record.result, message: record.message }
    if (bad) this.#options.log.error(fields, `self-test ${record.result}`)
    else if (previous) this.#options.log.info(fields, `self-test ${record.result} again`)
  }

  /** Why an attempt cannot work, known from the probes without trying it. */
  #skipReason({ backend, device }: LoadAttempt): string | null {
    const probe = this.#probes?.[backend]
    if (!probe) return null
    const runtime = backend === 'openvino' ? 'OpenVINO' : 'ONNX Runtime'
    if (!probe.available) return `${runtime} runtime unavailable: ${probe.error ?? 'unknown reason'}`
    if (!isDeviceListed(probe.devices, device)) {
      return `device ${device} not present (${runtime} devices: ${probe.devices.join(', ') || 'none'})`
    }
    return null
  }

  #loadSpec(m: RegisteredModel, attempt: LoadAttempt): ModelLoadSpec {
    return {
      ...loadSpecFor(m.spec, attempt.device, this.#options.defaults, this.#options.cacheDir),
      modelPath: attempt.modelPath,
    }
  }
}
