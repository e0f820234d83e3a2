import type { BackendName, FallbackStep, ModelHealth } from '@npu-fleet/protocol'
import type { ModelCondition } from '../backends/backend.js'
import type { ModelManifest } from './model-manifest.js'
import type { ModelVersionSpec } from './model-repository.js'
import { liveSlots, type ModelState, notReadyErrorOf, stateOf, stateReason } from './model-state.js'
import type { SelfTestRecord } from './self-test.js'
import { selfTestHealth } from './self-test-health.js'

/** What a model version runs requests on (a tensor model's LoadedModel, a language model's TextGenerator). */
export interface Runnable {
  readonly backend: BackendName
  readonly device: string
  condition(): ModelCondition
  onConditionChange(listener: (condition: ModelCondition) => void): void
}

/** The `/health` fields every model version has, whatever it runs on. */
export type CommonHealth = Omit<ModelHealth, 'parallelism' | 'precision' | 'compiled_batch_sizes'>

export const iso = (epochMs: number) => new Date(epochMs).toISOString()

/**
 * One model version and its lifecycle on this worker, whatever it serves with: its state is one
 * {@link ModelState}; `ready()` is the one readiness check every caller uses. The registry moves it through
 * loading, serving and failure; what it runs on (`condition()`) and its self-tests move it between ready,
 * degraded and recovering. `S`: what a serving state holds; `R`: what requests run on, taken from `S`.
 * Tensor models (registered-model.ts) and language models (registered-generator.ts) add what is theirs.
 */
export abstract class ModelVersion<S, R extends Runnable> {
  #state: ModelState<S> = { kind: 'loading', since: Date.now() }
  #condition: ModelCondition = { kind: 'serving' }
  #selfTest: SelfTestRecord | null = null
  readonly #fallbackChain: FallbackStep[] = []
  readonly #listeners = new Set<(state: ModelState<S>) => void>()

  constructor(readonly spec: ModelVersionSpec) {}

  /** What requests run on in `serving`. */
  protected abstract runnableOf(serving: S): R
  /** Requests (or sequences) `serving` runs at once when nothing is out. */
  protected abstract slotsOf(serving: S): number
  /** True when it runs somewhere other than its first choice. */
  abstract get onFallback(): boolean

  get name(): string {
    return this.spec.name
  }
  get version(): string {
    return this.spec.version
  }
  get manifest(): ModelManifest {
    return this.spec.manifest
  }
  /** Requests allowed to wait beyond those running (model.yaml `queue.max_queued`, else the worker's). */
  queueCapacity(defaultMaxQueued: number): number {
    return this.manifest.queue.max_queued ?? defaultMaxQueued
  }
  /** The current state. */
  get state(): ModelState<S> {
    return this.#state
  }
  /** Every step of the fallback chain that did not serve, with its reason. */
  get fallbackChain(): readonly FallbackStep[] {
    return this.#fallbackChain
  }
  /** The last self-test, or null before the first. */
  get selfTest(): SelfTestRecord | null {
    return this.#selfTest
  }
  /** What it runs on says now (serving, impaired, recovering). */
  protected get condition(): ModelCondition {
    return this.#condition
  }

  /** What to run a request on now (ready or degraded), else null. The one readiness check. */
  ready(): R | null {
    const state = this.#state
    return state.kind === 'ready' || state.kind === 'degraded' ? this.runnableOf(state.serving) : null
  }

  /** The serving record while loaded (warming and recovering included), else null. */
  serving(): S | null {
    const state = this.#state
    return 'serving' in state ? state.serving : null
  }

  /** Slots that serve now: all while ready, the live ones while degraded, none otherwise. */
  liveSlots(): number {
    return liveSlots(this.#state, (serving) => this.slotsOf(serving))
  }

  /** Why it is degraded, recovering or failed, or null (ready, loading, warming, unloading need no reason). */
  reason(): string | null {
    return stateReason(this.#state)
  }

  /** The 503 a request gets while `ready()` is null; Retry-After says when recovery tries next. */
  notReadyError(): Error {
    return notReadyErrorOf(`${this.name}:${this.version}`, this.#state)
  }

  /** Calls `listener` on every change of state; returns the function that stops it. */
  onStateChange(listener: (state: ModelState<S>) => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  /** Records a fallback step that did not serve (the registry, while loading). */
  recordFallback(step: FallbackStep): void {
    this.#fallbackChain.push(step)
  }

  /** The fallback chain (re)starts: nothing serves until a step passes. */
  loading(): void {
    this.setState({ kind: 'loading', since: Date.now() })
  }

  /** It loaded and passed its load-time self-test: it serves, and follows its runnable's condition. */
  serve(serving: S, selfTest: SelfTestRecord): void {
    this.#selfTest = selfTest
    const runnable = this.runnableOf(serving)
    this.#condition = runnable.condition()
    runnable.onConditionChange((condition) => {
      const current = this.serving()
      // A condition from what an earlier load served (replaced since) changes nothing.
      if (current === null || this.runnableOf(current) !== runnable) return
      this.#condition = condition
      this.recompute(current)
    })
    this.recompute(serving)
  }

  /** No step of the fallback chain could serve. */
  fail(error: string): void {
    this.setState({ kind: 'failed', since: Date.now(), error })
  }

  /** A periodic self-test ran: drift degrades the model, a pass clears it. */
  recordSelfTest(record: SelfTestRecord): void {
    this.#selfTest = record
    const serving = this.serving()
    if (serving) this.recompute(serving)
  }

  /** Shutdown (or an unload) began: nothing runs on it any more. */
  unloading(): void {
    this.setState({ kind: 'unloading', since: Date.now() })
  }

  /** The serving state from `serving`, its condition and its last self-test. */
  protected recompute(serving: S): void {
    this.setState(
      stateOf(serving, this.slotsOf(serving), this.#condition, this.#selfTest, this.#state, Date.now()),
    )
  }

  protected setState(state: ModelState<S>): void {
    this.#state = state
    for (const listener of this.#listeners) listener(state)
  }

  /** The `/health` fields every model version has. */
  protected commonHealth(abandonedCalls: number): CommonHealth {
    const state = this.#state
    const serving = this.serving()
    const runnable = serving === null ? null : this.runnableOf(serving)
    return {
      name: this.name,
      version: this.version,
      state: state.kind,
      ready: this.ready() !== null,
      backend: runnable?.backend ?? null,
      device: runnable?.device ?? null,
      preferred_device: this.manifest.devices[0] ?? 'NPU',
      fallback: this.onFallback,
      fallback_chain: [...this.#fallbackChain],
      error: state.kind === 'failed' ? state.error : null,
      reason: this.reason(),
      since: iso(state.since),
      recovery: state.kind === 'recovering' ? { attempt: state.attempt, retry_at: iso(state.retryAt) } : null,
      self_test: this.#selfTest ? selfTestHealth(this.#selfTest) : null,
      abandoned_calls: abandonedCalls,
    }
  }
}
