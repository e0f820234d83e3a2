import type { ThreadPriorityHealth } from '@npu-fleet/protocol'
import { BACKGROUND_THREAD_NICENESS, type PriorityOutcome } from '../backends/thread-priority.js'

// What the worker's lowered threads (inference, decode, JSON codec) found when they lowered their priority,
// as the main thread learns it from each thread's start message. One ledger per process: the nice value is a
// property of the host and of the service's sandbox (seccomp, RLIMIT_NICE), the same for every thread, so the
// latest start speaks for all; a refusal is also counted and warned about once, because it is silent otherwise
// (the event loop then competes with inference at equal priority, and /health slows under load).

let latest: { thread: string; outcome: PriorityOutcome } | null = null
let refusedStarts = 0
let warned = false

/** Records what thread `thread` reported when it started. */
export function recordThreadPriority(thread: string, outcome: PriorityOutcome): void {
  latest = { thread, outcome }
  const refused = outcome.kind === 'refused' || (outcome.kind === 'lowered' && !outcome.canRestore)
  if (outcome.kind === 'refused') refusedStarts++
  if (refused && !warned) {
    warned = true
    process.emitWarning(describe(outcome), { code: 'NPU_WORKER_THREAD_PRIORITY' })
  }
}

/** The `thread_priority` block of `/health`. */
export function threadPriorityHealth(): ThreadPriorityHealth {
  if (latest === null)
    return {
      state: 'no_thread_started',
      niceness: null,
      target_niceness: BACKGROUND_THREAD_NICENESS,
      can_restore: null,
      refused_starts: refusedStarts,
      thread: null,
      message: 'no inference or codec thread has started yet',
    }
  const { thread, outcome } = latest
  return {
    state: outcome.kind === 'not-lowered' ? 'not_lowered' : outcome.kind,
    niceness: 'niceness' in outcome ? outcome.niceness : null,
    target_niceness: BACKGROUND_THREAD_NICENESS,
    can_restore: outcome.kind === 'lowered' ? outcome.canRestore : null,
    refused_starts: refusedStarts,
    thread,
    message: describe(outcome),
  }
}

function describe(outcome: PriorityOutcome): string {
  switch (outcome.kind) {
    case 'lowered':
      return outcome.canRestore
        ? `inference threads run at nice ${outcome.niceness}, below the event loop (nice ${outcome.inherited})`
        : `inference threads run at nice ${outcome.niceness}, but may not go back to nice ${outcome.inherited} to post to the event loop (RLIMIT_NICE refuses it and there is no CAP_SYS_NICE: the shipped unit sets LimitNICE=+0 for nice 0); each reply can then wait behind other threads`
    case 'kept':
      return `inference threads kept the niceness they inherited (${outcome.niceness}), already at or below the target priority`
    case 'refused':
      return `inference threads could not lower their priority to nice ${outcome.niceness} (${outcome.reason}): they compete with the event loop, so /health and request parsing slow down under load; allow setpriority in the service's syscall filter`
    case 'unsupported':
      return `thread priorities are per process on ${outcome.platform}: inference threads run at the event loop's priority`
    case 'not-lowered':
      return 'the latest thread did not lower its priority'
  }
}
