import type { BatchingHealth } from '@npu-fleet/protocol'
import type { LoadedModel } from '../backends/backend.js'
import type { ModelManifest } from './model-manifest.js'

/** How one loaded model merges concurrent requests, decided once at load time. */
export interface BatchingPolicy {
  /** Most rows one merged inference carries. */
  maxRows: number
  /** How long the oldest waiting request may wait for batch-mates (ms). */
  maxDelayMs: number
  /** Row counts worth running at once without waiting out the delay. */
  preferredRows: readonly number[]
  /** `dynamic`: the batch dimension takes any size; `padded`: pad to the one compiled size (static shapes). */
  mode: 'dynamic' | 'padded'
  /** The compiled batch size a padded batch is filled up to. */
  paddedRows: number | null
}

/** The policy decided for a loaded model, or null with the reason it does not batch (null: not configured). */
export interface BatchingDecision {
  policy: BatchingPolicy | null
  reason: string | null
}

/**
 * The batching a model gets: none without a `batching:` section; `dynamic` when every input's first
 * dimension is dynamic; `padded` when every input has the same static first dimension > 1 (an NPU compiled
 * for that batch). A static batch of 1 cannot merge requests: batching is then off, and `reason` says why.
 */
export function batchingPolicy(manifest: ModelManifest, model: LoadedModel): BatchingDecision {
  const config = manifest.batching
  if (!config) return { policy: null, reason: null }
  const firstDims = new Set(model.inputs.map((input) => (input.shape.length === 0 ? 0 : input.shape[0])))
  const [first] = firstDims
  if (model.inputs.length === 0 || firstDims.size !== 1 || first === undefined || first === 0) {
    return { policy: null, reason: 'inputs do not share a batch dimension' }
  }
  const common = {
    maxDelayMs: config.max_queue_delay_us / 1000,
    preferredRows: config.preferred_batch_sizes ?? [],
  }
  if (first < 0) {
    return {
      policy: { ...common, maxRows: config.max_batch_size, mode: 'dynamic', paddedRows: null },
      reason: null,
    }
  }
  if (first === 1) {
    return {
      policy: null,
      reason: `compiled for batch 1 on ${model.device}: set the first dimension of static_shapes to ${config.max_batch_size} to compile that batch`,
    }
  }
  return {
    policy: { ...common, maxRows: Math.min(first, config.max_batch_size), mode: 'padded', paddedRows: first },
    reason: null,
  }
}

/** The policy in `/health` terms. */
export function batchingHealth(manifest: ModelManifest, decided: BatchingDecision): BatchingHealth | null {
  const config = manifest.batching
  if (!config) return null
  const { policy, reason } = decided
  return {
    enabled: policy !== null,
    mode: policy?.mode ?? null,
    max_batch_size: policy?.maxRows ?? config.max_batch_size,
    max_queue_delay_us: config.max_queue_delay_us,
    padded_to: policy?.paddedRows ?? null,
    reason,
  }
}
