import type { ModelFaults } from '../test-hooks.js'
import { type SharedFault, sharedFault } from './fault-counter.js'

/** The faults of one model, each with its count shared by every thread and runtime object of the model. */
export interface ModelFaultPlan {
  hang?: SharedFault
  crash_thread?: SharedFault
  fail_thread_starts?: SharedFault
  drift?: SharedFault<{ offset: number }>
}

/** Faults by model name (`test_hooks.faults`), ready to count. */
export type FaultPlan = Readonly<Record<string, ModelFaultPlan>>

/** Builds the plan from the config: one shared count per model and fault. */
export function faultPlan(faults: Readonly<Record<string, ModelFaults>>): FaultPlan {
  return Object.fromEntries(
    Object.entries(faults).map(([model, f]) => [
      model,
      {
        ...(f.hang ? { hang: sharedFault(f.hang) } : {}),
        ...(f.crash_thread ? { crash_thread: sharedFault(f.crash_thread) } : {}),
        ...(f.fail_thread_starts ? { fail_thread_starts: sharedFault(f.fail_thread_starts) } : {}),
        ...(f.drift ? { drift: sharedFault(f.drift) } : {}),
      },
    ]),
  )
}

/** True when some model of the plan has a fault only an ONNX Runtime thread can inject. */
export function needsFaultyOnnxThreads(plan: FaultPlan): boolean {
  return Object.values(plan).some((f) => f.hang || f.crash_thread || f.fail_thread_starts)
}
