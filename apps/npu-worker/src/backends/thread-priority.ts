import { getPriority, setPriority } from 'node:os'

/** Niceness of inference and decode threads: below the event loop, which answers /health and feeds them. */
export const BACKGROUND_THREAD_NICENESS = 10

/**
 * This thread's priority: `inherited` is its niceness before lowerThreadPriority lowered it (the event loop's),
 * and whether the thread may go back to it for a moment (atInheritedPriority). `unchanged`: never lowered.
 */
type ThreadPriority =
  | { kind: 'unchanged' }
  | { kind: 'lowered'; inherited: number; lowered: number; canRestore: boolean }

let priority: ThreadPriority = { kind: 'unchanged' }

/**
 * Lowers the CPU priority of the calling worker thread only (Linux: the nice value is per thread, and
 * setpriority(PRIO_PROCESS, 0) applies to the caller). When inference saturates every core, the kernel
 * then still gives the event loop its slices at once: `/health` and request parsing do not queue behind
 * model runs, and an idle event loop costs the inference nothing. Elsewhere (the value would apply to the
 * whole process) and when refused, nothing changes. Returns whether it applied.
 */
export function lowerThreadPriority(niceness = BACKGROUND_THREAD_NICENESS): boolean {
  if (process.platform !== 'linux') return false
  try {
    // Never raise a thread above what it inherited (an operator may run the whole service niced).
    const inherited = getPriority()
    const lowered = Math.max(inherited, niceness)
    setPriority(lowered)
    if (lowered > inherited) priority = { kind: 'lowered', inherited, lowered, canRestore: true }
    return true
  } catch {
    return false
  }
}

/**
 * Runs `send` (a postMessage to the event loop) at the priority this thread inherited, then lowers it again.
 * Why: Node's MessagePort wakes the receiving thread while it holds the receiving port's mutex
 * (MessagePortData::AddToIncomingQueue calls uv_async_send under it). The woken event loop preempts a
 * nice-10 sender right there, locks the same mutex in MessagePort::OnMessage and sleeps on it until the
 * kernel runs the sender again, after every other runnable thread of higher priority or earlier deadline.
 * Measured with the detector saturating one pinned core (perf sched, kernel stacks): the event loop slept
 * 4-38 ms on that futex while `/health` waited. At the inherited priority the sender is run again at once and
 * the wait is microseconds. Raising the niceness back needs CAP_SYS_NICE or RLIMIT_NICE: where it is refused
 * the first time, `send` just runs (the thread never tries again; two failing syscalls per reply are waste).
 */
export function atInheritedPriority<T>(send: () => T): T {
  if (priority.kind === 'unchanged' || !priority.canRestore) return send()
  try {
    setPriority(priority.inherited)
  } catch {
    priority = { ...priority, canRestore: false }
    return send()
  }
  try {
    return send()
  } finally {
    setPriority(priority.lowered)
  }
}
