import { getPriority, setPriority } from 'node:os'

/** Niceness of inference and decode threads: below the event loop, which answers /health and feeds them. */
export const BACKGROUND_THREAD_NICENESS = 10

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
    setPriority(Math.max(getPriority(), niceness))
    return true
  } catch {
    return false
  }
}
