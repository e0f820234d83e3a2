import type { FaultTrigger } from '../test-hooks.js'

/** A fault's trigger and its count, shareable with worker threads (structured clone keeps the buffer shared). */
export interface SharedFault<Extra = object> {
  trigger: FaultTrigger & Extra
  /** One Int32: the inferences (or starts) seen so far, by every thread of the model. */
  seen: SharedArrayBuffer
}

/** A new shared fault for `trigger`, counting from zero. */
export function sharedFault<Extra extends object>(trigger: FaultTrigger & Extra): SharedFault<Extra> {
  return { trigger, seen: new SharedArrayBuffer(4) }
}

/**
 * Counts one more inference (or thread start) and says whether the fault hits it: the first `after` pass,
 * the next `count` are hit (all of them when `count` is null). Atomic, so threads of one model share the count.
 */
export function strikes(fault: SharedFault | undefined): boolean {
  if (!fault) return false
  const seen = Atomics.add(new Int32Array(fault.seen), 0, 1) + 1
  const { after, count } = fault.trigger
  return seen > after && (count === null || seen <= after + count)
}
