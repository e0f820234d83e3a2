import { mkdir } from 'node:fs/promises'
import { type InferencePrecision, precisionOfDevice } from '@npu-fleet/protocol'
import type { elementTypeString } from 'openvino-node'
import type {
  BackendProbe,
  InferenceBackend,
  LoadedModel,
  ModelCondition,
  ModelLoadSpec,
  TensorInfo,
} from './backend.js'
import {
  loadOpenvinoRuntime,
  type OpenvinoRuntime,
  type OvAsyncInferQueue,
  type OvCore,
  type OvInferRequest,
  type OvModel,
  type OvPort,
  type OvTensor,
} from './openvino-runtime.js'
import { elementCount, type Tensor, type TensorArray } from './tensor.js'
import { concatBatch, sliceBatch, staticBatchSizes } from './tensor-batching.js'

type Datatype = Tensor['datatype']

// Element types openvino-node can both create and read back (helper.cpp get_supported_types, tensor.cpp
// get_data): no f16 and no boolean. Models with such inputs or outputs are refused at load, with the reason,
// so the fallback chain serves them on ONNX Runtime instead of failing at the first request.
const DATATYPE_OF_ELEMENT: Record<string, Datatype> = {
  u8: 'UINT8',
  i8: 'INT8',
  u16: 'UINT16',
  i16: 'INT16',
  u32: 'UINT32',
  i32: 'INT32',
  u64: 'UINT64',
  i64: 'INT64',
  f32: 'FP32',
  f64: 'FP64',
}
const ELEMENT_OF_DATATYPE: Partial<Record<Datatype, elementTypeString>> = {
  UINT8: 'u8',
  INT8: 'i8',
  UINT16: 'u16',
  INT16: 'i16',
  UINT32: 'u32',
  INT32: 'i32',
  UINT64: 'u64',
  INT64: 'i64',
  FP32: 'f32',
  FP64: 'f64',
}

/** Options of the OpenVINO backend. */
export interface OpenvinoBackendOptions {
  /** The runtime to use; default: `openvino-node`, loaded lazily. Tests inject a fake. */
  runtime?: OpenvinoRuntime
}

/** OpenVINO through `openvino-node`: NPU, GPU or CPU, with a native infer-request pool per model. */
export class OpenvinoBackend implements InferenceBackend {
  readonly name = 'openvino' as const
  readonly #injected: OpenvinoRuntime | undefined
  readonly #loaded = new Set<OpenvinoModel>()
  #core: OvCore | null = null

  constructor(options: OpenvinoBackendOptions = {}) {
    this.#injected = options.runtime
  }

  async probe(): Promise<BackendProbe> {
    try {
      const runtime = this.#runtime()
      const devices = this.#coreOf(runtime).getAvailableDevices()
      let version: string | null = null
      try {
        version = runtime.getOpenvinoVersion().buildNumber
      } catch {
        // getOpenvinoVersion is recent; an older addon without it still serves models.
      }
      return { available: true, version, devices: [...devices], error: null }
    } catch (err) {
      return { available: false, version: null, devices: [], error: messageOf(err) }
    }
  }

  async load(spec: ModelLoadSpec): Promise<LoadedModel> {
    const runtime = this.#runtime()
    const core = this.#coreOf(runtime)
    const devices = core.getAvailableDevices()
    // `NPU` also names the first of several enumerated devices (`GPU.0`, `GPU.1`).
    if (!devices.some((d) => d === spec.device || d.startsWith(`${spec.device}.`))) {
      throw new Error(
        `OpenVINO device ${spec.device} is not available (available: ${devices.join(', ') || 'none'})`,
      )
    }
    let model: OvModel
    try {
      model = await core.readModel(spec.modelPath)
    } catch (err) {
      throw new Error(`OpenVINO cannot read ${spec.modelPath}: ${messageOf(err)}`)
    }
    reshapeForDevice(model, spec)

    const config: Record<string, string> = { PERFORMANCE_HINT: spec.performanceHint }
    // Values go as strings: older addons convert compile properties from JS strings only (helper.cpp
    // js_to_cpp<std::map<std::string, ov::Any>>), and every version accepts them.
    if (spec.cacheDir !== null) {
      await mkdir(spec.cacheDir, { recursive: true })
      config.CACHE_DIR = spec.cacheDir
    }
    if (spec.device === 'CPU') config.INFERENCE_NUM_THREADS = String(spec.threads)
    let compiled: Awaited<ReturnType<OvCore['compileModel']>>
    try {
      compiled = await core.compileModel(model, spec.device, config)
    } catch (err) {
      throw new Error(`OpenVINO cannot compile ${spec.name} for ${spec.device}: ${messageOf(err)}`)
    }

    const probeRequest = compiled.createInferRequest()
    const inputs = model.inputs.map((port, i) =>
      describePort(port, 'input', () => probeRequest.getInputTensor(i).getElementType()),
    )
    const outputs = model.outputs.map((port, i) =>
      describePort(port, 'output', () => model.getOutputElementType(i)),
    )

    let optimal = spec.instances
    try {
      optimal = Number(compiled.getProperty('OPTIMAL_NUMBER_OF_INFER_REQUESTS'))
    } catch {
      // A plugin without the property: the configured instances bound the pool alone.
    }
    const jobs = Math.max(1, Math.min(spec.instances, Number.isFinite(optimal) ? optimal : spec.instances))
    let precisionHint: string | null = null
    try {
      precisionHint = String(compiled.getProperty('INFERENCE_PRECISION_HINT'))
    } catch {
      // Not every plugin reports it; the device's default precision applies.
    }
    const precision = precisionOfDevice(spec.device, precisionHint)
    // AsyncInferQueue, not InferRequest.inferAsync: inferAsync assigns inputs by position and serialises every
    // call behind one mutex (openvinotoolkit/openvino#37739); the queue runs `jobs` native requests, by name.
    const queue = new runtime.AsyncInferQueue(compiled, jobs)
    const loaded = new OpenvinoModel(runtime, spec, queue, jobs, precision, inputs, outputs, (m) =>
      this.#loaded.delete(m),
    )
    this.#loaded.add(loaded)
    return loaded
  }

  async close(): Promise<void> {
    await Promise.all([...this.#loaded].map((model) => model.unload()))
    this.#core = null
  }

  #runtime(): OpenvinoRuntime {
    if (this.#injected) return this.#injected
    const load = loadOpenvinoRuntime()
    if (!load.runtime) throw new Error(load.error)
    return load.runtime
  }

  #coreOf(runtime: OpenvinoRuntime): OvCore {
    this.#core ??= new runtime.Core()
    return this.#core
  }
}

/**
 * Apply `spec.staticShapes` with `model.reshape`. The NPU compiles static shapes only, so there every input must
 * end up static; other devices keep dynamic dimensions unless static shapes are configured.
 */
function reshapeForDevice(model: OvModel, spec: ModelLoadSpec): void {
  const staticShapes = spec.staticShapes ?? {}
  const names = model.inputs.map((port) => port.getAnyName())
  for (const [name, dims] of Object.entries(staticShapes)) {
    const port = model.inputs[names.indexOf(name)]
    if (!port)
      throw new Error(
        `static_shapes names "${name}", which is not an input of ${spec.name} (inputs: ${names.join(', ')})`,
      )
    const current = dimsOf(port)
    if (
      current.length !== dims.length ||
      dims.some((d, i) => !(Number.isInteger(d) && d > 0) || (current[i]! >= 0 && current[i] !== d))
    ) {
      throw new Error(
        `static_shapes.${name} [${dims}] does not fit input "${name}" of shape [${current}] (-1 is dynamic)`,
      )
    }
  }
  if (spec.device === 'NPU') {
    for (const port of model.inputs) {
      const name = port.getAnyName()
      if (!staticShapes[name] && port.getPartialShape().isDynamic()) {
        throw new Error(
          `input "${name}" of ${spec.name} has dynamic shape ${port.getPartialShape().toString()} and the NPU compiles static shapes only: set static_shapes.${name} in model.yaml`,
        )
      }
    }
  }
  const entries = Object.entries(staticShapes)
  if (entries.length > 0) model.reshape(new Map(entries.map(([name, dims]) => [name, `[${dims.join(',')}]`])))
}

/** Dimensions of a port; -1 for a dynamic one (the addon gives -1 or a `[min, max]` interval). */
function dimsOf(port: OvPort): number[] {
  return port
    .getPartialShape()
    .getDimensions()
    .map((d) => (typeof d === 'number' && d >= 0 ? d : -1))
}

function describePort(port: OvPort, kind: 'input' | 'output', elementType: () => unknown): TensorInfo {
  const name = port.getAnyName()
  let type: string
  try {
    type = String(elementType())
  } catch (err) {
    throw new Error(`cannot read the element type of ${kind} "${name}": ${messageOf(err)}`)
  }
  const datatype = DATATYPE_OF_ELEMENT[type]
  if (!datatype) {
    throw new Error(`${kind} "${name}" is ${type}, which openvino-node cannot exchange with JavaScript`)
  }
  return { name, datatype, shape: dimsOf(port) }
}

/** One queued request of the native pool. */
interface PendingRequest {
  outputNames: readonly string[]
  resolve: (outputs: Record<string, Tensor>) => void
  reject: (err: Error) => void
}

/** A model compiled by OpenVINO with an `AsyncInferQueue` of native infer requests. */
export class OpenvinoModel implements LoadedModel {
  readonly backend = 'openvino' as const
  readonly device: string
  readonly compiledBatchSizes: readonly number[] | null
  readonly #runtime: OpenvinoRuntime
  readonly #name: string
  readonly #queue: OvAsyncInferQueue
  /** Keyed by the userData object given to startAsync, which the queue hands back to the callback. */
  readonly #pending = new Map<object, PendingRequest>()
  readonly #onUnloaded: (model: OpenvinoModel) => void
  #closing = false
  #released = false
  #onIdle: (() => void) | null = null

  constructor(
    runtime: OpenvinoRuntime,
    spec: ModelLoadSpec,
    queue: OvAsyncInferQueue,
    readonly parallelism: number,
    readonly precision: InferencePrecision,
    readonly inputs: readonly TensorInfo[],
    readonly outputs: readonly TensorInfo[],
    onUnloaded: (model: OpenvinoModel) => void,
  ) {
    this.#runtime = runtime
    this.#name = spec.name
    this.device = spec.device
    this.#queue = queue
    this.#onUnloaded = onUnloaded
    this.compiledBatchSizes = inputs.every((i) => !i.shape.includes(-1)) ? staticBatchSizes(inputs) : null
    queue.setCallback((error, request, userData) => this.#complete(error, request, userData))
  }

  condition(): ModelCondition {
    return { kind: 'serving' }
  }

  onConditionChange(_listener: (condition: ModelCondition) => void): void {
    // The request pool is not recycled yet, so the condition never changes.
  }

  async infer(
    inputs: Readonly<Record<string, Tensor>>,
    outputNames?: readonly string[],
  ): Promise<Record<string, Tensor>> {
    if (this.#closing) throw new Error(`model ${this.#name} is unloading`)
    // Everything is checked before it reaches the native queue: a tensor it refuses would keep its request
    // slot, and a failure inside a started request never reaches JavaScript (async_infer_queue.cpp rethrows it
    // on the native thread), so the call would never settle.
    const wanted = outputNames ?? this.outputs.map((o) => o.name)
    for (const name of wanted) {
      if (!this.outputs.some((o) => o.name === name)) {
        throw new Error(`unknown output "${name}"; outputs: ${this.outputs.map((o) => o.name).join(', ')}`)
      }
    }
    const batch = this.#validate(inputs)
    const compiledBatch = this.compiledBatchSizes?.[0]
    if (compiledBatch === undefined || batch === compiledBatch) return this.#run(inputs, wanted)
    // A static batch-1 model (the NPU) runs a larger batch as that many batch-1 inferences.
    const parts = await Promise.all(
      Array.from({ length: batch }, (_, row) => {
        const rowInputs: Record<string, Tensor> = {}
        for (const [name, tensor] of Object.entries(inputs)) rowInputs[name] = sliceBatch(tensor, row, 1)
        return this.#run(rowInputs, wanted)
      }),
    )
    const outputs: Record<string, Tensor> = {}
    for (const name of wanted) outputs[name] = concatBatch(parts.map((part) => part[name]!))
    return outputs
  }

  async unload(): Promise<void> {
    this.#closing = true
    if (this.#pending.size > 0) await new Promise<void>((resolve) => (this.#onIdle = resolve))
    if (!this.#released) {
      this.#released = true
      this.#queue.release()
    }
    this.#onUnloaded(this)
  }

  /** Check names, datatypes and shapes against the compiled model; returns the batch size of the request. */
  #validate(inputs: Readonly<Record<string, Tensor>>): number {
    for (const name of Object.keys(inputs)) {
      if (!this.inputs.some((i) => i.name === name)) {
        throw new Error(`unknown input "${name}"; inputs: ${this.inputs.map((i) => i.name).join(', ')}`)
      }
    }
    const batches = new Set<number>()
    const compiledBatch = this.compiledBatchSizes?.[0]
    for (const info of this.inputs) {
      const tensor = inputs[info.name]
      if (!tensor) throw new Error(`missing input "${info.name}"`)
      if (tensor.datatype !== info.datatype) {
        throw new Error(`input "${info.name}" is ${info.datatype}, got ${tensor.datatype}`)
      }
      if (tensor.data.length !== elementCount(tensor.shape)) {
        throw new Error(`input "${info.name}" has ${tensor.data.length} elements for shape [${tensor.shape}]`)
      }
      const fits =
        tensor.shape.length === info.shape.length &&
        tensor.shape.every(
          (d, axis) =>
            info.shape[axis] === -1 || info.shape[axis] === d || (axis === 0 && compiledBatch === 1),
        )
      if (!fits) {
        throw new Error(
          `input "${info.name}" has shape [${tensor.shape}]; ${this.#name} is compiled on ${this.device} for [${info.shape}] (-1 is dynamic)`,
        )
      }
      if (tensor.shape.length > 0) batches.add(tensor.shape[0]!)
    }
    if (compiledBatch === 1 && batches.size > 1) {
      throw new Error(`inputs have different batch sizes (${[...batches].join(', ')})`)
    }
    return [...batches][0] ?? 1
  }

  /** One inference on a request of the pool. */
  #run(
    inputs: Readonly<Record<string, Tensor>>,
    outputNames: readonly string[],
  ): Promise<Record<string, Tensor>> {
    const tensors: Record<string, OvTensor> = {}
    for (const [name, tensor] of Object.entries(inputs)) {
      const element = ELEMENT_OF_DATATYPE[tensor.datatype]
      if (!element)
        throw new Error(`openvino-node cannot create ${tensor.datatype} tensors (input "${name}")`)
      tensors[name] = new this.#runtime.Tensor(element, [...tensor.shape], wholeBuffer(tensor.data))
    }
    const userData = {}
    return new Promise((resolve, reject) => {
      this.#pending.set(userData, { outputNames, resolve, reject })
      const fail = (err: unknown) => {
        if (this.#pending.delete(userData)) reject(new Error(messageOf(err)))
        this.#settled()
      }
      try {
        // The promise settles after the callback ran; the callback already resolved us, so only a rejection
        // (the callback threw) matters here.
        this.#queue.startAsync(tensors, userData).catch(fail)
      } catch (err) {
        fail(err)
      }
    })
  }

  /** The queue's callback: copy the outputs out of the request before it is reused. */
  #complete(error: Error | null, request: OvInferRequest, userData: object): void {
    const pending = this.#pending.get(userData)
    if (!pending) return
    this.#pending.delete(userData)
    try {
      if (error) throw error
      const outputs: Record<string, Tensor> = {}
      for (const name of pending.outputNames) {
        const info = this.outputs.find((o) => o.name === name)!
        const tensor = request.getTensor(name)
        // getData() may view memory the request reuses for its next inference: copy it out now.
        const data = tensor.getData().slice() as TensorArray
        outputs[name] = { datatype: info.datatype, shape: [...tensor.getShape()], data }
      }
      pending.resolve(outputs)
    } catch (err) {
      pending.reject(new Error(messageOf(err)))
    }
    this.#settled()
  }

  #settled(): void {
    if (this.#pending.size === 0 && this.#onIdle) {
      this.#onIdle()
      this.#onIdle = null
    }
  }
}

/** The addon wraps a typed array's whole ArrayBuffer (helper.cpp cast_to_tensor): copy views into their own. */
function wholeBuffer(data: TensorArray): TensorArray {
  return data.byteOffset === 0 && data.byteLength === data.buffer.byteLength ? data : data.slice()
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
