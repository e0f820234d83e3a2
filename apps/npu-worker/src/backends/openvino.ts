import { mkdir } from 'node:fs/promises'
import { precisionOfDevice } from '@npu-fleet/protocol'
import type {
  AbandonedCall,
  BackendProbe,
  InferenceBackend,
  LoadedModel,
  ModelLoadSpec,
  TensorInfo,
} from './backend.js'
import { isDeviceListed } from './device-name.js'
import { OpenvinoModel, type PortPlan } from './openvino-model.js'
import {
  loadOpenvinoRuntime,
  type OpenvinoRuntime,
  type OvCompiledModel,
  type OvCore,
  type OvElement,
  type OvModel,
  type OvPort,
} from './openvino-runtime.js'
import type { Tensor } from './tensor.js'

type Datatype = Tensor['datatype']

// Element types openvino-node can both create and read back (helper.cpp get_supported_types, tensor.cpp
// get_data), and the two it cannot (f16, boolean), which are exchanged as f32 and u8 with a PrePostProcessor
// conversion inside the model. Any other element type is refused at load, with the reason, so the fallback
// chain serves the model elsewhere instead of failing at the first request.
const DATATYPE_OF_ELEMENT: Record<OvElement, Datatype> = {
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
const CONVERTED: Record<string, { datatype: Datatype; element: OvElement; convert: PortPlan['convert'] }> = {
  f16: { datatype: 'FP16', element: 'f32', convert: 'f16' },
  boolean: { datatype: 'BOOL', element: 'u8', convert: 'bool' },
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
  /** Unloaded models that left requests behind (still running in the runtime). */
  readonly #haunted = new Set<OpenvinoModel>()
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
    if (!isDeviceListed(devices, spec.device)) {
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
    const staticShapes = checkStaticShapes(model, spec)

    // Outputs' element types are known before compiling; inputs' only on a compiled model's requests (the
    // binding exposes no element type on a Model's inputs). So: outputs and static shapes are set now, and a
    // model with f16 or boolean inputs is compiled a second time once those are known (with CACHE_DIR, both
    // compiles are cached and later starts import them).
    const outputElements = model.outputs.map((port, i) => {
      try {
        return String(model.getOutputElementType(i))
      } catch (err) {
        throw new Error(`cannot read the element type of output "${port.getAnyName()}": ${messageOf(err)}`)
      }
    })
    // Refuse element types that cannot be exchanged now, before a compile that may take minutes.
    for (const [i, port] of model.outputs.entries()) planPort(port, 'output', outputElements[i]!)
    applyShapesAndConversions(runtime, model, staticShapes, [], conversionsOf(model.outputs, outputElements))

    const config: Record<string, string> = { PERFORMANCE_HINT: spec.performanceHint }
    // Values go as strings: older addons convert compile properties from JS strings only (helper.cpp
    // js_to_cpp<std::map<std::string, ov::Any>>), and every version accepts them.
    if (spec.cacheDir !== null) {
      // OpenVINO would create it too; doing it first makes a permission error name the folder.
      await mkdir(spec.cacheDir, { recursive: true })
      config.CACHE_DIR = spec.cacheDir
    }
    if (spec.device === 'CPU') config.INFERENCE_NUM_THREADS = String(spec.threads)
    const compile = async (): Promise<OvCompiledModel> => {
      try {
        return await core.compileModel(model, spec.device, config)
      } catch (err) {
        throw new Error(`OpenVINO cannot compile ${spec.name} for ${spec.device}: ${messageOf(err)}`)
      }
    }

    let compiled = await compile()
    const probeRequest = compiled.createInferRequest()
    const inputElements = model.inputs.map((port, i) => {
      try {
        return String(probeRequest.getInputTensor(i).getElementType())
      } catch (err) {
        throw new Error(`cannot read the element type of input "${port.getAnyName()}": ${messageOf(err)}`)
      }
    })
    const inputs = model.inputs.map((port, i) => planPort(port, 'input', inputElements[i]!))
    const inputConversions = conversionsOf(model.inputs, inputElements)
    if (inputConversions.length > 0) {
      applyShapesAndConversions(runtime, model, {}, inputConversions, [])
      compiled = await compile()
    }
    // Output shapes as compiled (static ones follow from static inputs).
    const outputs = model.outputs.map((port, i) => planPort(port, 'output', outputElements[i]!))

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
    // AsyncInferQueue, not InferRequest.inferAsync: inferAsync assigns inputs by position and serialises every
    // call behind one mutex (openvinotoolkit/openvino#37739); the queue runs `jobs` native requests, by name.
    const loaded = new OpenvinoModel({
      runtime,
      spec,
      compiled,
      recompile: compile,
      jobs,
      precision: precisionOfDevice(spec.device, precisionHint),
      inputs,
      outputs,
      onUnloaded: (m) => {
        this.#loaded.delete(m)
        if (m.abandonedCalls().length > 0) this.#haunted.add(m)
      },
    })
    this.#loaded.add(loaded)
    return loaded
  }

  async close(): Promise<void> {
    await Promise.all([...this.#loaded].map((model) => model.unload()))
    this.#core = null
  }

  /**
   * Native requests abandoned after their time limit that have not come back, across every model this backend
   * loaded (unloaded ones included): they may still run, so the process cannot count on exiting in order.
   */
  abandonedCalls(): AbandonedCall[] {
    for (const model of this.#haunted) if (model.abandonedCalls().length === 0) this.#haunted.delete(model)
    return [...this.#loaded, ...this.#haunted].flatMap((model) => model.abandonedCalls())
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
 * Checks `spec.staticShapes` against the model and returns the shapes to apply. The NPU compiles static
 * shapes only, so there every input must end up static; other devices keep dynamic dimensions unless static
 * shapes are configured.
 */
function checkStaticShapes(model: OvModel, spec: ModelLoadSpec): Record<string, number[]> {
  const staticShapes = spec.staticShapes ?? {}
  const names = model.inputs.map((port) => port.getAnyName())
  for (const [name, dims] of Object.entries(staticShapes)) {
    const port = model.inputs[names.indexOf(name)]
    if (!port)
      throw new Error(
        `static_shapes names "${name}", which is not an input of ${spec.name} (inputs: ${names.join(', ')})`,
      )
    const current = dimsOf(port)
    const bounds = boundsOf(port)
    if (
      current.length !== dims.length ||
      dims.some(
        (d, i) =>
          !(Number.isInteger(d) && d > 0) ||
          (current[i]! >= 0 && current[i] !== d) ||
          (bounds?.[i] && (d < bounds[i]![0] || d > bounds[i]![1])),
      )
    ) {
      throw new Error(
        `static_shapes.${name} [${dims}] does not fit input "${name}" of shape [${current}]${bounds ? ` (bounds ${port.getPartialShape().toString()})` : ''} (-1 is dynamic)`,
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
  return staticShapes
}

/**
 * Gives inputs their static shapes and converts f16/boolean ports, in the forms the binding implements:
 * `model.reshape(shape)` for a one-input model (model_wrap.cpp; there is no per-input Map form), and
 * `PrePostProcessor` `input(name).tensor().setShape(...)` for several inputs; `setElementType` at both ends
 * for the conversions. Both change `model` in place.
 */
function applyShapesAndConversions(
  runtime: OpenvinoRuntime,
  model: OvModel,
  staticShapes: Record<string, number[]>,
  inputConversions: readonly Conversion[],
  outputConversions: readonly Conversion[],
): void {
  const shapes = Object.entries(staticShapes)
  const reshapeSingle = shapes.length > 0 && model.inputs.length === 1
  if (reshapeSingle) model.reshape(`[${shapes[0]![1].join(',')}]`)
  const pppShapes = reshapeSingle ? [] : shapes
  if (pppShapes.length === 0 && inputConversions.length === 0 && outputConversions.length === 0) return
  const ppp = new runtime.preprocess.PrePostProcessor(model)
  for (const [name, dims] of pppShapes) ppp.input(name).tensor().setShape(dims)
  for (const { name, element } of inputConversions) ppp.input(name).tensor().setElementType(element)
  for (const { name, element } of outputConversions) ppp.output(name).tensor().setElementType(element)
  ppp.build()
}

/** A port exchanged in another element type than the model's. */
interface Conversion {
  name: string
  element: OvElement
}

/** The ports among `ports` (with the model's element types) that need a conversion at the boundary. */
function conversionsOf(ports: readonly OvPort[], elements: readonly string[]): Conversion[] {
  return ports.flatMap((port, i) => {
    const converted = CONVERTED[elements[i]!]
    return converted ? [{ name: port.getAnyName(), element: converted.element }] : []
  })
}

/** Dimensions of a port; -1 for a dynamic one (the addon gives -1 or a `[min, max]` interval). */
function dimsOf(port: OvPort): number[] {
  return port
    .getPartialShape()
    .getDimensions()
    .map((d) => (typeof d === 'number' && d >= 0 ? d : -1))
}

/** `[min, max]` of each bounded dimension (an IR interval), null elsewhere; undefined when none is bounded. */
function boundsOf(port: OvPort): ([number, number] | null)[] | undefined {
  const bounds = port
    .getPartialShape()
    .getDimensions()
    .map((d): [number, number] | null => (Array.isArray(d) ? [Number(d[0]), Number(d[1])] : null))
  return bounds.some((b) => b) ? bounds : undefined
}

/** How a port is exchanged with the addon, from its element type; refuses types it cannot exchange. */
function planPort(port: OvPort, kind: 'input' | 'output', element: string): PortPlan {
  const name = port.getAnyName()
  const bounds = boundsOf(port)
  const info = (datatype: Datatype): TensorInfo => ({
    name,
    datatype,
    shape: dimsOf(port),
    ...(bounds ? { bounds } : {}),
  })
  if (element in DATATYPE_OF_ELEMENT) {
    return {
      info: info(DATATYPE_OF_ELEMENT[element as OvElement]),
      element: element as OvElement,
      convert: 'none',
    }
  }
  const converted = CONVERTED[element]
  if (converted)
    return { info: info(converted.datatype), element: converted.element, convert: converted.convert }
  throw new Error(`${kind} "${name}" is ${element}, which openvino-node cannot exchange with JavaScript`)
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
