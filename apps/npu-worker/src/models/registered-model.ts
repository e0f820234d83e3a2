import type { ModelHealth, ParallelismHealth, WarmupHealth } from '@npu-fleet/protocol'
import type { LoadedModel } from '../backends/backend.js'
import { batchingHealth } from './batching-policy.js'
import type { ModelVersionSpec } from './model-repository.js'
import type { Serving } from './model-state.js'
import { iso, ModelVersion } from './model-version.js'
import type { WarmupRecord } from './warmup.js'

/**
 * One tensor-model version (KServe, tasks) and its lifecycle ({@link ModelVersion}), plus what is a tensor
 * model's own: its warmup before it serves, its batching decision, its parallelism in instances.
 */
export class RegisteredModel extends ModelVersion<Serving, LoadedModel> {
  #warmup: WarmupRecord | null = null

  constructor(
    spec: ModelVersionSpec,
    /** `instances` as configured (model.yaml, else the worker default), for /health next to what loaded. */
    readonly configuredInstances: number = spec.manifest.instances ?? 1,
  ) {
    super(spec)
  }

  protected runnableOf(serving: Serving): LoadedModel {
    return serving.model
  }
  protected slotsOf(serving: Serving): number {
    return serving.model.parallelism
  }

  get modelPath(): string {
    return this.spec.modelPath
  }

  /** True when the model runs somewhere other than its first choice (OpenVINO on its first device). */
  get onFallback(): boolean {
    const model = this.serving()?.model
    if (!model) return false
    return model.backend !== 'openvino' || model.device !== this.manifest.devices[0]
  }

  /** The last warmup (running or done), or null when none ran. */
  get warmup(): WarmupRecord | null {
    return this.#warmup
  }

  /** The loaded model passed its self-test and runs its warmup (`record`: the plan) before it serves. */
  warming(serving: Serving, record: WarmupRecord): void {
    this.#warmup = record
    this.setState({ kind: 'warming', since: Date.now(), serving })
  }

  /** The warmup finished. */
  recordWarmup(record: WarmupRecord): void {
    this.#warmup = record
  }

  /** The queue found the model's outputs do not batch along dimension 0: batching stays off, with the reason. */
  turnBatchingOff(reason: string): void {
    const serving = this.serving()
    if (!serving || serving.batching.policy === null) return
    this.recompute({ ...serving, batching: { policy: null, reason } })
  }

  /** This version in the protocol's `/health` shape. */
  health(abandonedCalls = 0): ModelHealth {
    const serving = this.serving()
    const model = serving?.model ?? null
    return {
      ...this.commonHealth(abandonedCalls),
      compiled_batch_sizes: model?.compiledBatchSizes ? [...model.compiledBatchSizes] : null,
      ...(this.manifest.batching && serving
        ? { batching: batchingHealth(this.manifest, serving.batching) }
        : {}),
      parallelism: model
        ? {
            configured: this.configuredInstances,
            loaded: model.parallelism,
            live: this.liveSlots(),
            reason: this.#parallelismReason(model),
            ...instancesHealth(model),
          }
        : null,
      precision: model?.precision ?? null,
      ...(this.manifest.warmup ? { warmup: this.#warmup ? warmupHealth(this.#warmup) : null } : {}),
    }
  }

  /** Why fewer slots serve than are configured: the backend's sizing, and slots out now. */
  #parallelismReason(model: LoadedModel): string | null {
    const reasons: string[] = []
    if (model.parallelism < this.configuredInstances) {
      reasons.push(
        model.backend === 'openvino'
          ? `OpenVINO runs min(instances, OPTIMAL_NUMBER_OF_INFER_REQUESTS) = ${model.parallelism} infer requests for PERFORMANCE_HINT ${this.manifest.performance_hint} on ${model.device}`
          : `${model.backend} runs ${model.parallelism} of ${this.configuredInstances} configured instances`,
      )
    }
    const condition = this.condition
    if (this.liveSlots() < model.parallelism && condition.kind !== 'serving') reasons.push(condition.reason)
    return reasons.length > 0 ? reasons.join('; ') : null
  }
}

/** The backend's instances by state in `/health` terms, for a backend that reports them. */
function instancesHealth(model: LoadedModel): Pick<ParallelismHealth, 'instances'> {
  const counts = model.instanceCounts?.()
  if (!counts) return {}
  const { idleTimeoutMs, ...states } = counts
  return { instances: { ...states, idle_timeout_ms: idleTimeoutMs } }
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
