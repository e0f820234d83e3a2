import {
  CONFIG_DATA_TYPE_OF,
  type ModelConfig,
  type ModelConfigTensor,
  type ModelMetadata,
  type ServerMetadata,
  type TensorMetadata,
} from '@npu-fleet/protocol'
import type { TensorInfo } from '../backends/backend.js'
import type { ModelRegistry } from '../models/model-registry.js'
import type { RegisteredModel } from '../models/registered-model.js'
import type { Lifecycle } from '../plugins/lifecycle.js'
import { WORKER_VERSION } from '../worker-version.js'

// The metadata side of the Open Inference Protocol, the same facts for REST (routes/kserve-metadata.ts) and
// gRPC (grpc/inference-service.ts).

/** Protocol extensions this worker implements (`GET /v2` `extensions`). */
export const EXTENSIONS = [
  'binary_tensor_data',
  'model_configuration',
  'model_repository',
  'parameters',
  'statistics',
] as const

/** `GET /v2`, gRPC `ServerMetadata`. */
export function serverMetadata(): ServerMetadata {
  return { name: 'npu-worker', version: WORKER_VERSION, extensions: [...EXTENSIONS] }
}

/** Ready: serving, with at least one model that can run now. */
export function isServerReady(lifecycle: Lifecycle, registry: ModelRegistry): boolean {
  return lifecycle.state === 'serving' && registry.all().some((m) => m.ready() !== null)
}

/** A model is ready while it can serve and the worker is not draining. */
export function isModelReady(lifecycle: Lifecycle, model: RegisteredModel): boolean {
  return model.ready() !== null && lifecycle.state !== 'draining'
}

/** The model's platform, from its file: `openvino_ir` or `onnx`. */
function platformOf(model: RegisteredModel): string {
  return model.modelPath.endsWith('.xml') ? 'openvino_ir' : 'onnx'
}

/** The loaded model's inputs and outputs; metadata describes it also while it recovers, so only a model never loaded has none. */
function loadedTensors(model: RegisteredModel): {
  inputs: readonly TensorInfo[]
  outputs: readonly TensorInfo[]
} {
  const loaded = model.serving()?.model
  if (!loaded) throw model.notReadyError()
  return loaded
}

const meta = (t: TensorInfo): TensorMetadata => ({ name: t.name, datatype: t.datatype, shape: [...t.shape] })

/** `GET /v2/models/{name}[/versions/{v}]`, gRPC `ModelMetadata`. */
export function modelMetadata(registry: ModelRegistry, model: RegisteredModel): ModelMetadata {
  const { inputs, outputs } = loadedTensors(model)
  return {
    name: model.name,
    versions: registry.versions(model.name).map((m) => m.version),
    platform: platformOf(model),
    inputs: inputs.map(meta),
    outputs: outputs.map(meta),
  }
}

/**
 * `GET /v2/models/{name}[/versions/{v}]/config` (the model configuration extension): Triton's `ModelConfig`
 * fields that mean something here, from what was decided at load, and the worker's own in `parameters`.
 * With batching, `max_batch_size` is the rows a merged inference carries and `dims` leave the batch out, as
 * Triton writes them.
 */
export function modelConfig(model: RegisteredModel): ModelConfig {
  const serving = model.serving()
  if (!serving) throw model.notReadyError()
  const loaded = serving.model
  const policy = serving.batching.policy
  const tensor = (t: TensorInfo): ModelConfigTensor => ({
    name: t.name,
    data_type: CONFIG_DATA_TYPE_OF[t.datatype],
    dims: policy ? t.shape.slice(1) : [...t.shape],
  })
  const parameters: Record<string, string> = {
    device: loaded.device,
    precision: loaded.precision,
    performance_hint: model.manifest.performance_hint,
    preferred_devices: model.manifest.devices.join(','),
    compiled_batch_sizes: loaded.compiledBatchSizes?.join(',') ?? 'dynamic',
    ...(policy ? { batching_mode: policy.mode } : {}),
  }
  return {
    name: model.name,
    platform: platformOf(model),
    backend: loaded.backend,
    max_batch_size: policy?.maxRows ?? 0,
    input: loaded.inputs.map(tensor),
    output: loaded.outputs.map(tensor),
    instance_group: [
      { count: loaded.parallelism, kind: loaded.device === 'CPU' ? 'KIND_CPU' : 'KIND_MODEL' },
    ],
    ...(policy
      ? {
          dynamic_batching: {
            preferred_batch_size: [...policy.preferredRows],
            max_queue_delay_microseconds: Math.round(policy.maxDelayMs * 1000),
          },
        }
      : {}),
    parameters: Object.fromEntries(Object.entries(parameters).map(([k, v]) => [k, { string_value: v }])),
  }
}
