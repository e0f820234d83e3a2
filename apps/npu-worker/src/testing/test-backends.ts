import type { InferenceBackend } from '../backends/backend.js'
import { OnnxRuntimeBackend } from '../backends/onnxruntime.js'
import { OpenvinoBackend } from '../backends/openvino.js'
import type { TestHooks } from '../test-hooks.js'
import type { ThreadEntries } from '../threads/thread-entries.js'
import { createFakeOpenvino, type FakeFault } from './fake-openvino.js'
import { faultPlan, needsFaultyOnnxThreads } from './fault-plan.js'
import { withDriftingModels } from './faulty-model.js'

/** The backends a worker runs under `test_hooks`, and the clean ONNX Runtime its self-tests compare with. */
export interface TestBackends {
  openvino: InferenceBackend
  onnxruntime: InferenceBackend
  /** Never faulted: self-test references must come from a runtime that tells the truth. */
  reference: InferenceBackend
}

/**
 * Composes the backends `test_hooks` asks for: OpenVINO on the fake runtime with the configured devices (else
 * the real addon), ONNX Runtime on the fault-injecting thread entry when a model has thread faults, and every
 * model whose answers should drift wrapped to drift. Only app.ts calls it, only with test hooks on.
 */
export function createTestBackends(hooks: TestHooks, entries: ThreadEntries): TestBackends {
  const plan = faultPlan(hooks.faults)
  const onnxruntime = new OnnxRuntimeBackend({
    threadEntry: needsFaultyOnnxThreads(plan) ? entries.faultyOnnxruntime : entries.onnxruntime,
    threadExtra: plan,
  })
  // A model's `hang` on OpenVINO is the fake's own: its request stays busy forever, as a wedged device's would.
  const hangs: FakeFault[] = Object.entries(hooks.faults).flatMap(([model, f]) =>
    f.hang
      ? [
          {
            kind: 'hang',
            model,
            after: f.hang.after,
            ...(f.hang.count !== null ? { count: f.hang.count } : {}),
          },
        ]
      : [],
  )
  const openvino: InferenceBackend = hooks.fake_openvino
    ? new OpenvinoBackend({
        runtime: createFakeOpenvino({ devices: hooks.fake_openvino.devices, faults: hangs }).runtime,
      })
    : new OpenvinoBackend()
  return {
    openvino: withDriftingModels(openvino, plan),
    onnxruntime: withDriftingModels(onnxruntime, plan),
    reference: new OnnxRuntimeBackend({ threadEntry: entries.onnxruntime }),
  }
}
