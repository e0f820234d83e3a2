import type { FallbackStep, ModelHealth, SelfTestHealth, WarmupHealth } from '@npu-fleet/protocol'
import type { LoadedModel, ModelCondition } from '../backends/backend.js'
import { batchingHealth } from './batching-policy.js'
import type { ModelManifest } from './model-manifest.js'
import type { ModelVersionSpec } from './model-repository.js'
import {
  liveParallelism,
  type ModelState,
  notReadyErrorOf,
  type Serving,
  servingState,
  stateReason,
} from './model-state.js'
import type { SelfTestRecord } from './self-test.js'
import type { WarmupRecord } from './warmup.js'

const iso = (epochMs: number) => new Date(epochMs).toISOString()

/**
 * One model version and its lifecycle on this worker. Its state is one {@link ModelState}; `ready()` is the one
 * readiness check every caller uses. The registry moves it through loading, serving and failure; its backend's
 * `condition()` and its self-tests move it between ready, degraded and recovering.
 */
export class RegisteredModel {
  #state: ModelState = { kind: 'loading', since: Date.now() }
  #condition: ModelCondition = { kind: 'serving' }
  #selfTest: SelfTestRecord | null = null
  #warmup: WarmupRecord | null = null
  readonly #fallbackChain: FallbackStep[] = []
  readonly #listeners = new Set<(state: ModelState) => void>()

  constructor(
    readonly spec: ModelVersionSpec,
    /** `instances` as configured (model.yaml, else the worker default), for /health next to what loaded. */
    readonly configuredInstances: number = spec.manifest.instances ?? 1,
  ) {}

  get name(): string {
    return this.spec.name
  }
  get version(): string {
    return this.spec.version
  }
  get manifest(): ModelManifest {
    return this.spec.manifest
  }
  get modelPath(): string {
    return this.spec.modelPath
  }
  /** Requests allowed to wait beyond those running. */
  queueCapacity(defaultMaxQueued: number): number {
    return this.manifest.queue.max_queued ?? defaultMaxQueued
  }

  /** The current state. */
  get state(): ModelState {
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

  /** The model to run a request on now (ready or degraded), else null. The one readiness check. */
  ready(): LoadedModel | null {
    const state = this.#state
    return state.kind === 'ready' || state.kind === 'degraded' ? state.serving.model : null
  }

  /** The loaded model and its load-time decisions while it is loaded (recovering included), else null. */
  serving(): Serving | null {
    const state = this.#state
    return 'serving' in state ? state.serving : null
  }

  /** True when the model runs somewhere other than its first choice (OpenVINO on its first device). */
  get onFallback(): boolean {
    const model = this.serving()?.model
    if (!model) return false
    return model.backend !== 'openvino' || model.device !== this.manifest.devices[0]
  }

  /** Why the model is degraded, recovering or failed, or null (ready, loading, unloading need no reason). */
  reason(): string | null {
    return stateReason(this.#state)
  }

  /** The 503 a request for this model gets while `ready()` is null; Retry-After says when recovery tries next. */
  notReadyError(): Error {
    return notReadyErrorOf(`${this.name}:${this.version}`, this.#state)
  }

  /** Calls `listener` on every change of state; returns the function that stops it. */
  onStateChange(listener: (state: ModelState) => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  /** Records a fallback step that did not serve (the registry, while loading). */
  recordFallback(step: FallbackStep): void {
    this.#fallbackChain.push(step)
  }

  /** The last warmup (running or done), or null when none ran. */
  get warmup(): WarmupRecord | null {
    return this.#warmup
  }

  /** The fallback chain (re)starts: nothing serves until a step passes. */
  loading(): void {
    this.#set({ kind: 'loading', since: Date.now() })
  }

  /** The loaded model passed its self-test and runs its warmup (`record`: the plan) before it serves. */
  warming(serving: Serving, record: WarmupRecord): void {
    this.#warmup = record
    this.#set({ kind: 'warming', since: Date.now(), serving })
  }

  /** The warmup finished. */
  recordWarmup(record: WarmupRecord): void {
    this.#warmup = record
  }

  /** The model loaded and passed its load-time self-test (and warmup): it serves, and follows its backend's condition. */
  serve(serving: Serving, selfTest: SelfTestRecord): void {
    this.#selfTest = selfTest
    this.#condition = serving.model.condition()
    serving.model.onConditionChange((condition) => {
      if (this.serving()?.model !== serving.model) return
      this.#condition = condition
      this.#recompute(this.serving() as Serving)
    })
    this.#recompute(serving)
  }

  /** No step of the fallback chain could serve. */
  fail(error: string): void {
    this.#set({ kind: 'failed', since: Date.now(), error })
  }

  /** A periodic self-test ran: drift degrades the model, a pass clears it. */
  recordSelfTest(record: SelfTestRecord): void {
    this.#selfTest = record
    const serving = this.serving()
    if (serving) this.#recompute(serving)
  }

  /** The queue found the model's outputs do not batch along dimension 0: batching stays off, with the reason. */
  turnBatchingOff(reason: string): void {
    const serving = this.serving()
    if (!serving || serving.batching.policy === null) return
    this.#recompute({ ...serving, batching: { policy: null, reason } })
  }

  /** Shutdown began: nothing runs on the model any more. */
  unloading(): void {
    this.#set({ kind: 'unloading', since: Date.now() })
  }

  #recompute(serving: Serving): void {
    this.#set(servingState(serving, this.#condition, this.#selfTest, this.#state, Date.now()))
  }

  #set(state: ModelState): void {
    this.#state = state
    for (const listener of this.#listeners) listener(state)
  }

  /** This version in the protocol's `/health` shape. */
  health(abandonedCalls = 0): ModelHealth {
    const state = this.#state
    const serving = this.serving()
    const model = serving?.model ?? null
    return {
      name: this.name,
      version: this.version,
      state: state.kind,
      ready: this.ready() !== null,
      backend: model?.backend ?? null,
      device: model?.device ?? null,
      preferred_device: this.manifest.devices[0] ?? 'NPU',
      fallback: this.onFallback,
      fallback_chain: [...this.#fallbackChain],
      compiled_batch_sizes: model?.compiledBatchSizes ? [...model.compiledBatchSizes] : null,
      ...(this.manifest.batching && serving
        ? { batching: batchingHealth(this.manifest, serving.batching) }
        : {}),
      error: state.kind === 'failed' ? state.error : null,
      reason: this.reason(),
      since: iso(state.since),
      recovery: state.kind === 'recovering' ? { attempt: state.attempt, retry_at: iso(state.retryAt) } : null,
      parallelism: model
        ? {
            configured: this.configuredInstances,
            loaded: model.parallelism,
            live: liveParallelism(state),
            reason: this.#parallelismReason(model, state),
          }
        : null,
      precision: model?.precision ?? null,
      self_test: this.#selfTest ? selfTestHealth(this.#selfTest) : null,
      ...(this.manifest.warmup ? { warmup: this.#warmup ? warmupHealth(this.#warmup) : null } : {}),
      abandoned_calls: abandonedCalls,
    }
  }

  /** Why fewer slots serve than are configured: the backend's sizing, and slots out now. */
  #parallelismReason(model: LoadedModel, state: ModelState): string | null {
    const reasons: string[] = []
    if (model.parallelism < this.configuredInstances) {
      reasons.push(
        model.backend === 'openvino'
          ? `OpenVINO runs min(instances, OPTIMAL_NUMBER_OF_INFER_REQUESTS) = ${model.parallelism} infer requests for PERFORMANCE_HINT ${this.manifest.performance_hint} on ${model.device}`
          : `${model.backend} runs ${model.parallelism} of ${this.configuredInstances} configured instances`,
      )
    }
    if (liveParallelism(state) < model.parallelism && this.#condition.kind !== 'serving') {
      reasons.push(this.#condition.reason)
    }
    return reasons.length > 0 ? reasons.join('; ') : null
  }
}

/** A warmup record in `/health` terms. */
function warmupHealth(record: WarmupRecord): WarmupHealth {
  return {
    data: record.data,
    runs: record.runs,
    batch_sizes: [...record.batchSizes],
    started_at: iso(record.startedAt),
    duration_ms: record.durationMs === null ? null : Math.round(record.durationMs * 1000) / 1000,
  }
}

/** A self-test record in `/health` terms. */
export function selfTestHealth(record: SelfTestRecord): SelfTestHealth {
  return {
    result: record.result,
    at: iso(record.at),
    reference: record.reference,
    precision: record.precision,
    tolerance: record.tolerance,
    max_abs_error:
      record.maxAbsError !== null && Number.isFinite(record.maxAbsError) ? record.maxAbsError : null,
    mismatches: record.mismatches,
    elements: record.elements,
    duration_ms: record.durationMs === null ? null : Math.round(record.durationMs * 1000) / 1000,
    message: record.message,
  }
}
