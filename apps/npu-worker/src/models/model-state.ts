import type { LoadedModel, ModelCondition } from '../backends/backend.js'
import { ErrModelNotReady } from '../errors.js'
import type { BatchingDecision } from './batching-policy.js'
import type { GoldenCase, SelfTestRecord } from './self-test.js'

/** A model that loaded: the compiled model and what was decided about it at load. */
export interface Serving {
  readonly model: LoadedModel
  /** How the queue merges requests for it; replaced when the queue finds its outputs do not batch. */
  readonly batching: BatchingDecision
  /** The golden input and reference output its self-tests compare with (null: nothing to compare). */
  readonly golden: GoldenCase | null
}

/**
 * The lifecycle of one model version on this worker, one variant per state (cockatiel's breaker state is the
 * model): what a state holds exists only in that state, so a ready model without a loaded model, or a failed
 * one with one, cannot be written. `since` is when the state began (epoch ms). `S` is what a serving state
 * holds: a tensor model's {@link Serving}, or a language model's (registered-generator.ts).
 */
export type ModelState<S = Serving> =
  /** Going through the fallback chain: compiling, self-testing the candidate. */
  | { kind: 'loading'; since: number }
  /** Loaded and self-tested, running model.yaml `warmup` before it serves; takes no requests yet. */
  | { kind: 'warming'; since: number; serving: S }
  /** Serving with every slot, outputs within tolerance. */
  | { kind: 'ready'; since: number; serving: S }
  /** Serving, but not fully: `live` slots of the loaded ones, or outputs outside tolerance; `reasons` say which. */
  | { kind: 'degraded'; since: number; serving: S; live: number; reasons: readonly string[] }
  /** Loaded, but nothing can serve now; the backend recovers by itself (attempt `attempt`, next at `retryAt`). */
  | {
      kind: 'recovering'
      since: number
      serving: S
      reason: string
      attempt: number
      retryAt: number
    }
  /** No step of the fallback chain could load it; `error` sums up every step. */
  | { kind: 'failed'; since: number; error: string }
  /** Shutting down; nothing runs on it any more. */
  | { kind: 'unloading'; since: number }

/** Why a self-test result degrades a model, or null when it does not. */
export function selfTestProblem(record: SelfTestRecord | null): string | null {
  if (!record) return null
  if (record.result === 'drift') return `output drift: ${record.message}`
  if (record.result === 'error') return `self-test failed: ${record.message}`
  return null
}

/**
 * The state of a loaded model, from what it runs on says it can serve (`condition`) and its last self-test;
 * `slots`: what it serves with when nothing is out. Pure: the model version recomputes it on every change of
 * either and keeps `since` while the kind holds.
 */
export function stateOf<S>(
  serving: S,
  slots: number,
  condition: ModelCondition,
  selfTest: SelfTestRecord | null,
  previous: ModelState<S>,
  now: number,
): ModelState<S> {
  const keep = (kind: ModelState['kind']) => (previous.kind === kind ? previous.since : now)
  if (condition.kind === 'recovering') {
    return {
      kind: 'recovering',
      since: keep('recovering'),
      serving,
      reason: condition.reason,
      attempt: condition.attempt,
      retryAt: condition.retryAt,
    }
  }
  const reasons = [condition.kind === 'impaired' ? condition.reason : null, selfTestProblem(selfTest)].filter(
    (r): r is string => r !== null,
  )
  const live = condition.kind === 'impaired' ? condition.live : slots
  if (reasons.length > 0) return { kind: 'degraded', since: keep('degraded'), serving, live, reasons }
  return { kind: 'ready', since: keep('ready'), serving }
}

/** Slots that serve now in `state`: all (`slotsOf` its serving record) while ready, the live ones while degraded, none otherwise. */
export function liveSlots<S>(state: ModelState<S>, slotsOf: (serving: S) => number): number {
  if (state.kind === 'ready') return slotsOf(state.serving)
  if (state.kind === 'degraded') return state.live
  return 0
}

/** Why a model is degraded, recovering or failed, or null (ready, loading, warming, unloading need no reason). */
export function stateReason(state: ModelState<unknown>): string | null {
  switch (state.kind) {
    case 'degraded':
      return state.reasons.join('; ')
    case 'recovering':
      return `attempt ${state.attempt}, next at ${new Date(state.retryAt).toISOString()}: ${state.reason}`
    case 'failed':
      return state.error
    default:
      return null
  }
}

/** The 503 a request for model `label` (`name:version`) gets in `state`; Retry-After says when recovery tries next. */
export function notReadyErrorOf(label: string, state: ModelState<unknown>): Error {
  const reason = stateReason(state)
  const why = reason ? `${state.kind}: ${reason}` : state.kind
  const retryAfterSeconds =
    state.kind === 'recovering' ? Math.max(1, Math.ceil((state.retryAt - Date.now()) / 1000)) : undefined
  return new ErrModelNotReady(label, why, retryAfterSeconds)
}
