import {
  ErrCancelled,
  ErrDeadlineExceeded,
  ErrModelNotReady,
  ErrNotServing,
  ErrQueueFull,
} from '../errors.js'
import type { LifecycleState } from '../plugins/lifecycle.js'

/** Why the worker refused or dropped a request without running it to the end (`npu_worker_rejections_total`). */
export const REJECTION_REASONS = [
  /** The model's queue was at `queue.max_queued` (503 + Retry-After). */
  'queue_full',
  /** The request's deadline passed, waiting or running (504). */
  'deadline',
  /** The client went away before its answer. */
  'cancelled',
  /** The model was loading, recovering, failed or unloading (503). */
  'model_not_ready',
  /** The worker was still loading its models (503). */
  'starting',
  /** The worker was shutting down (503). */
  'draining',
] as const

/** One rejection reason. */
export type RejectionReason = (typeof REJECTION_REASONS)[number]

/**
 * The rejection an error answered to a client stands for, or null when it is no rejection (bad input, a failed
 * inference). Matched on the worker's own error catalogue, so a code is written once (errors.ts).
 */
export function rejectionReason(error: unknown, lifecycle: LifecycleState): RejectionReason | null {
  if (error instanceof ErrQueueFull) return 'queue_full'
  if (error instanceof ErrDeadlineExceeded) return 'deadline'
  if (error instanceof ErrCancelled) return 'cancelled'
  if (error instanceof ErrModelNotReady) return 'model_not_ready'
  // NOT_SERVING is raised only while starting or draining; the state it was raised in is the reason.
  if (error instanceof ErrNotServing) return lifecycle === 'starting' ? 'starting' : 'draining'
  return null
}
