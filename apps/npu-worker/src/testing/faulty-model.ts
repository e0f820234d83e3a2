import type { InferenceBackend, LoadedModel } from '../backends/backend.js'
import type { Tensor } from '../backends/tensor.js'
import { fromHalfBits, toHalfBits } from '../kserve/half-float.js'
import { type SharedFault, strikes } from './fault-counter.js'
import type { FaultPlan } from './fault-plan.js'

/** Adds `offset` to every floating-point element: the wrong numbers a failing device returns. */
function drifted(outputs: Record<string, Tensor>, offset: number): Record<string, Tensor> {
  for (const tensor of Object.values(outputs)) {
    const { data } = tensor
    if (tensor.datatype === 'FP32' || tensor.datatype === 'FP64') {
      const values = data as Float32Array
      for (let i = 0; i < values.length; i++) values[i] = (values[i] as number) + offset
    } else if (tensor.datatype === 'FP16') {
      const bits = data as Uint16Array
      for (let i = 0; i < bits.length; i++) bits[i] = toHalfBits(fromHalfBits(bits[i] as number) + offset)
    }
  }
  return outputs
}

/** `model` whose answers drift when the fault strikes; everything else passes through. */
export function withDrift(model: LoadedModel, fault: SharedFault<{ offset: number }>): LoadedModel {
  return {
    get backend() {
      return model.backend
    },
    get device() {
      return model.device
    },
    get inputs() {
      return model.inputs
    },
    get outputs() {
      return model.outputs
    },
    get parallelism() {
      return model.parallelism
    },
    get compiledBatchSizes() {
      return model.compiledBatchSizes
    },
    get precision() {
      return model.precision
    },
    condition: () => model.condition(),
    onConditionChange: (listener) => model.onConditionChange(listener),
    infer: async (inputs, outputNames, options) => {
      const outputs = await model.infer(inputs, outputNames, options)
      return strikes(fault) ? drifted(outputs, fault.trigger.offset) : outputs
    },
    unload: () => model.unload(),
    ...(model.instanceCounts ? { instanceCounts: model.instanceCounts.bind(model) } : {}),
  }
}

/** `backend` whose loaded models drift as the plan says (by model name). */
export function withDriftingModels(backend: InferenceBackend, plan: FaultPlan): InferenceBackend {
  return {
    get name() {
      return backend.name
    },
    probe: () => backend.probe(),
    load: async (spec) => {
      const model = await backend.load(spec)
      const drift = plan[spec.name]?.drift
      return drift ? withDrift(model, drift) : model
    },
    close: () => backend.close(),
    ...(backend.abandonedCalls ? { abandonedCalls: () => backend.abandonedCalls?.() ?? [] } : {}),
  }
}
