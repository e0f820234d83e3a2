import { getPriority, setPriority } from 'node:os'

/** Niceness of inference and decode threads: below the event loop, which answers /health and feeds them. */
export const BACKGROUND_THREAD_NICENESS = 10

/**
 * What lowerThreadPriority did in this thread, as /health reports it (thread-priority-ledger.ts).
 * `lowered`: below the niceness it inherited; `canRestore` says whether it may go back for a post (without,
 * the MessagePort priority inversion described at atInheritedPriority stays). `kept`: it inherited that
 * niceness or a lower priority already. `refused`: the kernel or a syscall filter said no. `unsupported`:
 * not Linux, where the value would apply to the whole process.
 */
export type PriorityOutcome =
  | { kind: 'lowered'; niceness: number; inherited: number; canRestore: boolean }
  | { kind: 'kept'; niceness: number }
  | { kind: 'refused'; niceness: number; reason: string }
  | { kind: 'unsupported'; platform: string }
  | { kind: 'not-lowered' }

let outcome: PriorityOutcome = { kind: 'not-lowered' }

/** What lowerThreadPriority did in the calling thread (`not-lowered` before it ran). */
export function threadPriorityOutcome(): PriorityOutcome {
  return outcome
}

/**
 * Lowers the CPU priority of the calling worker thread only (Linux: the nice value is per thread, and
 * setpriority(PRIO_PROCESS, 0) applies to the caller). When inference saturates every core, the kernel
 * then still gives the event loop its slices at once: `/health` and request parsing do not queue behind
 * model runs, and an idle event loop costs the inference nothing. Elsewhere (the value would apply to the
 * whole process) and when refused, nothing changes. Returns what it did (also kept for threadPriorityOutcome);
 * a second call returns what the first did.
 */
export function lowerThreadPriority(niceness = BACKGROUND_THREAD_NICENESS): PriorityOutcome {
  // Once per thread: an entry lowers it before loading its service, which asks again (a second try would
  // find the lowered value "inherited" and report `kept`).
  if (outcome.kind === 'not-lowered') outcome = lowered(niceness)
  return outcome
}

function lowered(niceness: number): PriorityOutcome {
  if (process.platform !== 'linux') return { kind: 'unsupported', platform: process.platform }
  let inherited: number
  try {
    inherited = getPriority()
    // Never raise a thread above what it inherited (an operator may run the whole service niced).
    if (inherited >= niceness) return { kind: 'kept', niceness: inherited }
    setPriority(niceness)
  } catch (error) {
    return { kind: 'refused', niceness, reason: reasonOf(error) }
  }
  // Whether a post may go back to the inherited priority: found out now, once, so /health can say so from
  // the start (it needs CAP_SYS_NICE or an RLIMIT_NICE that allows it, e.g. the unit's LimitNICE=+0).
  let canRestore: boolean
  try {
    setPriority(inherited)
    canRestore = true
  } catch {
    canRestore = false
  }
  if (canRestore) setPriority(niceness)
  return { kind: 'lowered', niceness, inherited, canRestore }
}

function reasonOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

/**
 * Runs `send` (a postMessage to the event loop) at the priority this thread inherited, then lowers it again.
 * Why: Node's MessagePort wakes the receiving thread while it holds the receiving port's mutex
 * (MessagePortData::AddToIncomingQueue calls uv_async_send under it). The woken event loop preempts a
 * nice-10 sender right there, locks the same mutex in MessagePort::OnMessage and sleeps on it until the
 * kernel runs the sender again, after every other runnable thread of higher priority or earlier deadline.
 * Measured with the detector saturating one pinned core (perf sched, kernel stacks): the event loop slept
 * 4-38 ms on that futex while `/health` waited. At the inherited priority the sender is run again at once and
 * the wait is microseconds. Raising the niceness back needs CAP_SYS_NICE or RLIMIT_NICE: lowerThreadPriority
 * tried it once, and where it was refused `send` just runs (two failing syscalls per reply are waste).
 */
export function atInheritedPriority<T>(send: () => T): T {
  const now = outcome
  if (now.kind !== 'lowered' || !now.canRestore) return send()
  try {
    setPriority(now.inherited)
  } catch {
    outcome = { ...now, canRestore: false }
    return send()
  }
  try {
    return send()
  } finally {
    setPriority(now.niceness)
  }
}
