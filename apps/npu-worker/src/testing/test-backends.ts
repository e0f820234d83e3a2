import type { InferenceBackend } from '../backends/backend.js'
import { OnnxRuntimeBackend } from '../backends/onnxruntime.js'
import { OpenvinoBackend } from '../backends/openvino.js'
import type { GenerationFaults } from '../generation/generation-thread-protocol.js'
import { OnnxGenerationBackend } from '../generation/onnx-generation-backend.js'
import { OpenvinoGenaiBackend } from '../generation/openvino-genai-backend.js'
import type { GenerationBackends } from '../models/generator-registry.js'
import type { ModelFaults, TestHooks } from '../test-hooks.js'
import type { ThreadEntries } from '../threads/thread-entries.js'
import { createFakeOpenvino, type FakeFault } from './fake-openvino.js'
import { createFakeOpenvinoGenai, type FakeGenaiFaults } from './fake-openvino-genai.js'
import { faultPlan, needsFaultyOnnxThreads } from './fault-plan.js'
import { withDriftingModels } from './faulty-model.js'

/** The backends a worker runs under `test_hooks`, and the clean ONNX Runtime its self-tests compare with. */
export interface TestBackends {
  openvino: InferenceBackend
  onnxruntime: InferenceBackend
  /** Never faulted: self-test references must come from a runtime that tells the truth. */
  reference: InferenceBackend
  generation: GenerationBackends
}

/** The ONNX Runtime engine's faults of each model: its thread hangs or crashes at step `after + 1`. */
function engineFaults(faults: Readonly<Record<string, ModelFaults>>): Record<string, GenerationFaults> {
  return Object.fromEntries(
    Object.entries(faults).map(([name, f]) => [
      name,
      {
        ...(f.hang ? { hangAtStep: f.hang.after + 1 } : {}),
        ...(f.crash_thread ? { crashAtStep: f.crash_thread.after + 1 } : {}),
      },
    ]),
  )
}

/** The fake OpenVINO GenAI's faults of each model. */
function genaiFaults(faults: Readonly<Record<string, ModelFaults>>): Record<string, FakeGenaiFaults> {
  return Object.fromEntries(
    Object.entries(faults).map(([name, f]) => [
      name,
      {
        ...(f.hang ? { hang: { after: f.hang.after } } : {}),
        ...(f.fail_thread_starts
          ? { failCreations: { after: f.fail_thread_starts.after, count: f.fail_thread_starts.count } }
          : {}),
      },
    ]),
  )
}

/** OpenVINO GenAI from the fake (`fake_openvino_genai`), else the real package; the engine with its faults. */
function generationBackends(hooks: TestHooks, entries: ThreadEntries): GenerationBackends {
  const onnxruntime = new OnnxGenerationBackend({
    threadEntry: entries.generation,
    faults: engineFaults(hooks.faults),
  })
  const devices = hooks.fake_openvino_genai?.devices
  if (!devices) return { genai: new OpenvinoGenaiBackend(), onnxruntime }
  const fake = createFakeOpenvinoGenai({
    devices,
    generationThreadEntry: entries.generation,
    faults: genaiFaults(hooks.faults),
  })
  return {
    genai: new OpenvinoGenaiBackend({
      loadRuntime: async () => ({ runtime: fake.runtime, error: null }),
      listDevices: () => [...devices],
      onClose: () => fake.close(),
    }),
    onnxruntime,
  }
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
    generation: generationBackends(hooks, entries),
  }
}
