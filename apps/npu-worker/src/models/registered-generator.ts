import type { FallbackStep, GenerationHealth, ModelHealth } from '@npu-fleet/protocol'
import type { ModelCondition } from '../backends/backend.js'
import type { GenerationRuntime } from '../generation/generation-backend.js'
import type { GenerationSection } from '../generation/generation-manifest.js'
import type { TextGenerator } from '../generation/text-generator.js'
import type { GeneratorGolden } from './generator-self-test.js'
import type { ModelManifest } from './model-manifest.js'
import type { ModelVersionSpec } from './model-repository.js'
import { type ModelState, notReadyErrorOf, stateOf, stateReason } from './model-state.js'
import { selfTestHealth } from './registered-model.js'
import type { SelfTestRecord } from './self-test.js'

/** A language model that loaded: its generator and what was decided about it at load. */
export interface GeneratorServing {
  readonly generator: TextGenerator
  readonly runtime: GenerationRuntime
  /** The golden prompt's reference answer its self-tests compare with. */
  readonly golden: GeneratorGolden
}

const iso = (epochMs: number) => new Date(epochMs).toISOString()

/**
 * One language-model version (`generation:` in model.yaml) and its lifecycle, in the same state union as every
 * model ({@link ModelState}); `ready()` is the one readiness check of the OpenAI routes and text tasks. The
 * generator registry moves it through loading, serving and failure; its generator's `condition()` and its
 * self-tests move it between ready, degraded and recovering.
 */
export class RegisteredGenerator {
  #state: ModelState<GeneratorServing> = { kind: 'loading', since: Date.now() }
  #condition: ModelCondition = { kind: 'serving' }
  #selfTest: SelfTestRecord | null = null
  readonly #fallbackChain: FallbackStep[] = []
  readonly #listeners = new Set<(state: ModelState<GeneratorServing>) => void>()

  constructor(readonly spec: ModelVersionSpec) {}

  get name(): string {
    return this.spec.name
  }
  get version(): string {
    return this.spec.version
  }
  get manifest(): ModelManifest {
    return this.spec.manifest
  }
  /** The `generation:` section (always present: only such models are registered as generators). */
  get section(): GenerationSection {
    return this.spec.manifest.generation as GenerationSection
  }
  /** Requests allowed to wait for a sequence slot beyond those generating (model.yaml `queue.max_queued`). */
  queueCapacity(defaultMaxQueued: number): number {
    return this.manifest.queue.max_queued ?? defaultMaxQueued
  }
  get state(): ModelState<GeneratorServing> {
    return this.#state
  }
  get fallbackChain(): readonly FallbackStep[] {
    return this.#fallbackChain
  }
  get selfTest(): SelfTestRecord | null {
    return this.#selfTest
  }

  /** The generator to run a request on now (ready or degraded), else null. The one readiness check. */
  ready(): TextGenerator | null {
    const state = this.#state
    return state.kind === 'ready' || state.kind === 'degraded' ? state.serving.generator : null
  }

  /** The serving record while loaded (recovering included), else null. */
  serving(): GeneratorServing | null {
    const state = this.#state
    return 'serving' in state ? state.serving : null
  }

  /** True when it generates somewhere other than its first choice (OpenVINO GenAI on its first device). */
  get onFallback(): boolean {
    const serving = this.serving()
    if (!serving) return false
    return serving.runtime !== 'openvino_genai' || serving.generator.device !== this.manifest.devices[0]
  }

  reason(): string | null {
    return stateReason(this.#state)
  }

  /** The 503 a request gets while `ready()` is null (Retry-After while recovering). */
  notReadyError(): Error {
    return notReadyErrorOf(`${this.name}:${this.version}`, this.#state)
  }

  /** Calls `listener` on every change of state; returns the function that stops it. */
  onStateChange(listener: (state: ModelState<GeneratorServing>) => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  recordFallback(step: FallbackStep): void {
    this.#fallbackChain.push(step)
  }

  /** It loaded and passed its load-time self-test: it serves, and follows its generator's condition. */
  serve(serving: GeneratorServing, selfTest: SelfTestRecord): void {
    this.#selfTest = selfTest
    this.#condition = serving.generator.condition()
    serving.generator.onConditionChange((condition) => {
      if (this.serving()?.generator !== serving.generator) return
      this.#condition = condition
      this.#recompute(serving)
    })
    this.#recompute(serving)
  }

  fail(error: string): void {
    this.#set({ kind: 'failed', since: Date.now(), error })
  }

  /** A periodic self-test ran: drift degrades the model, a pass clears it. */
  recordSelfTest(record: SelfTestRecord): void {
    this.#selfTest = record
    const serving = this.serving()
    if (serving) this.#recompute(serving)
  }

  unloading(): void {
    this.#set({ kind: 'unloading', since: Date.now() })
  }

  #recompute(serving: GeneratorServing): void {
    const slots = serving.generator.limits.max_sequences
    this.#set(stateOf(serving, slots, this.#condition, this.#selfTest, this.#state, Date.now()))
  }

  #set(state: ModelState<GeneratorServing>): void {
    this.#state = state
    for (const listener of this.#listeners) listener(state)
  }

  /** Sequence slots that generate now: all while ready, the live ones while degraded, none otherwise. */
  liveSequences(): number {
    const state = this.#state
    if (state.kind === 'ready') return state.serving.generator.limits.max_sequences
    if (state.kind === 'degraded') return state.live
    return 0
  }

  /** This version in the protocol's `/health` shape, with its generation limits and load. */
  health(defaultMaxQueued: number, abandonedCalls = 0): ModelHealth {
    const state = this.#state
    const serving = this.serving()
    const generator = serving?.generator ?? null
    const configured = this.section.max_sequences
    return {
      name: this.name,
      version: this.version,
      state: state.kind,
      ready: this.ready() !== null,
      backend: generator?.backend ?? null,
      device: generator?.device ?? null,
      preferred_device: this.manifest.devices[0] ?? 'NPU',
      fallback: this.onFallback,
      fallback_chain: [...this.#fallbackChain],
      compiled_batch_sizes: null,
      error: state.kind === 'failed' ? state.error : null,
      reason: this.reason(),
      since: iso(state.since),
      recovery: state.kind === 'recovering' ? { attempt: state.attempt, retry_at: iso(state.retryAt) } : null,
      parallelism: generator
        ? {
            configured,
            loaded: generator.limits.max_sequences,
            live: this.liveSequences(),
            reason: this.#parallelismReason(serving as GeneratorServing, configured),
          }
        : null,
      precision: generator?.precision ?? null,
      self_test: this.#selfTest ? selfTestHealth(this.#selfTest) : null,
      abandoned_calls: abandonedCalls,
      generation: serving ? this.#generationHealth(serving, defaultMaxQueued) : null,
    }
  }

  #generationHealth(serving: GeneratorServing, defaultMaxQueued: number): GenerationHealth {
    const { limits } = serving.generator
    const load = serving.generator.load()
    return {
      runtime: serving.runtime,
      active: load.active,
      queued: load.waiting,
      max_sequences: this.liveSequences(),
      max_queued: this.queueCapacity(defaultMaxQueued),
      context_length: limits.context_length,
      max_prompt_tokens: limits.max_prompt_tokens,
      default_max_tokens: limits.default_max_tokens,
    }
  }

  #parallelismReason(serving: GeneratorServing, configured: number): string | null {
    const reasons: string[] = []
    const loaded = serving.generator.limits.max_sequences
    if (loaded < configured) {
      reasons.push(
        serving.runtime === 'openvino_genai'
          ? `OpenVINO GenAI's LLMPipeline generates one sequence at a time on ${serving.generator.device}`
          : `${loaded} of ${configured} configured sequences`,
      )
    }
    if (this.liveSequences() < loaded && this.#condition.kind !== 'serving')
      reasons.push(this.#condition.reason)
    return reasons.length > 0 ? reasons.join('; ') : null
  }
}
