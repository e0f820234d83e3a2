import type { InferenceBackend } from '../backends/backend.js'
import { OnnxRuntimeBackend } from '../backends/onnxruntime.js'
import { OpenvinoBackend } from '../backends/openvino.js'
import type { TestHooks } from '../test-hooks.js'
import type { ThreadEntries } from '../threads/thread-entries.js'
import { createFakeOpenvino } from './fake-openvino.js'
import { faultPlan, needsFaultyOnnxThreads } from './fault-plan.js'
import { withDriftingModels } from './faulty-model.js'
import { withHangingRequests } from './faulty-openvino.js'

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
  let openvino: InferenceBackend
  if (hooks.fake_openvino) {
    const modelOfPath = new Map<string, string>()
    const runtime = withHangingRequests(
      createFakeOpenvino({ devices: hooks.fake_openvino.devices }).runtime,
      plan,
      modelOfPath,
    )
    const fake: InferenceBackend = new OpenvinoBackend({ runtime })
    openvino = {
      name: fake.name,
      probe: () => fake.probe(),
      load: (spec) => {
        modelOfPath.set(spec.modelPath, spec.name)
        return fake.load(spec)
      },
      close: () => fake.close(),
      ...(fake.abandonedCalls ? { abandonedCalls: () => fake.abandonedCalls?.() ?? [] } : {}),
    }
  } else {
    openvino = new OpenvinoBackend()
  }
  return {
    openvino: withDriftingModels(openvino, plan),
    onnxruntime: withDriftingModels(onnxruntime, plan),
    reference: new OnnxRuntimeBackend({ threadEntry: entries.onnxruntime }),
  }
}
