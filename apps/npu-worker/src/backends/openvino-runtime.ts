import { createRequire } from 'node:module'
import type {
  AsyncInferQueue,
  addon,
  CompiledModel,
  Core,
  elementTypeString,
  Model,
  Output,
  PartialShape,
  SupportedTypedArray,
  Tensor,
  Version,
} from 'openvino-node'

// openvino-node's interfaces fold the constructor into the instance type (`interface Core { new (): Core; ... }`),
// which no plain object can satisfy. These types pick the members the backend uses from those interfaces and
// re-declare only what nests another such interface. `loadOpenvinoRuntime` assigns the real addon to
// `OpenvinoRuntime`, so an incompatible upstream change breaks compilation here.

/** A model input or output port (`Output` of openvino-node). */
export type OvPort = Pick<Output, 'getAnyName'> & {
  getPartialShape(): Pick<PartialShape, 'getDimensions' | 'isStatic' | 'isDynamic' | 'toString'>
}

/** A read model (`Model` of openvino-node): ports and reshape. */
export type OvModel = Pick<Model, 'getOutputElementType'> & {
  readonly inputs: OvPort[]
  readonly outputs: OvPort[]
  /** Reshape inputs by tensor name to partial-shape strings such as `[1,3,48,192]`. */
  reshape(partialShapes: Map<string, string>): unknown
}

/** A tensor (`Tensor` of openvino-node). */
export type OvTensor = Pick<Tensor, 'getData' | 'getShape'> & {
  /** Element type string such as `f32` (the addon returns `ov::element::Type::to_string()`). */
  getElementType(): unknown
}

/** An infer request handed to the queue callback (`InferRequest` of openvino-node). */
export interface OvInferRequest {
  getTensor(name: string): OvTensor
  getInputTensor(index: number): OvTensor
  getOutputTensor(index: number): OvTensor
}

/** A compiled model (`CompiledModel` of openvino-node). */
export type OvCompiledModel = Pick<CompiledModel, 'getProperty'> & {
  createInferRequest(): OvInferRequest
}

/** Callback of `AsyncInferQueue.setCallback`: `(error, request, userData)`. */
export type OvQueueCallback = (error: Error | null, request: OvInferRequest, userData: object) => void

/** The native request pool (`AsyncInferQueue` of openvino-node). */
export type OvAsyncInferQueue = Pick<AsyncInferQueue, 'release'> & {
  setCallback(callback: OvQueueCallback): void
  /** Inputs by name (a Tensor[] would assign by position). */
  startAsync(inputData: Record<string, OvTensor> | OvTensor[], userData: object): Promise<object>
}

/** OpenVINO Core (`Core` of openvino-node). */
export type OvCore = Pick<Core, 'getAvailableDevices' | 'getProperty'> & {
  readModel(modelPath: string): Promise<OvModel>
  compileModel(model: OvModel, deviceName: string, config: Record<string, string>): Promise<OvCompiledModel>
}

/** The part of `openvino-node`'s addon the OpenVINO backend uses. The real addon and the test fake both fit. */
export interface OpenvinoRuntime {
  Core: new () => OvCore
  Tensor: new (type: elementTypeString, shape: number[], data: SupportedTypedArray) => OvTensor
  AsyncInferQueue: new (compiledModel: OvCompiledModel, jobs: number) => OvAsyncInferQueue
  getOpenvinoVersion(): Version
}

/** Result of loading the native runtime: the runtime, or why it cannot be used here. */
export type OpenvinoRuntimeLoad = { runtime: OpenvinoRuntime; error: null } | { runtime: null; error: string }

let cached: OpenvinoRuntimeLoad | undefined

/** Type-check the real addon against `OpenvinoRuntime`; every member is checked by assignment. */
function asOpenvinoRuntime(real: typeof addon): OpenvinoRuntime {
  // The queue's constructor takes the addon's own `CompiledModel`, an interface no object but the addon's can
  // satisfy (see above). Its shape is checked here against that type; widening the parameter to
  // `OvCompiledModel` is sound because the backend only passes models this same runtime compiled.
  const AsyncInferQueueOfAddon: new (compiledModel: CompiledModel, jobs: number) => OvAsyncInferQueue =
    real.AsyncInferQueue
  const { Core, Tensor, getOpenvinoVersion }: Omit<OpenvinoRuntime, 'AsyncInferQueue'> = real
  return {
    Core,
    Tensor,
    AsyncInferQueue: AsyncInferQueueOfAddon as unknown as OpenvinoRuntime['AsyncInferQueue'],
    getOpenvinoVersion: () => getOpenvinoVersion.call(real),
  }
}

/**
 * Load `openvino-node` once. Without its native runtime (`MODULE_NOT_FOUND` for `ov_node_addon.node`, or the
 * package skipped entirely as an optional dependency on Node 20) this returns the reason instead of throwing.
 */
export function loadOpenvinoRuntime(): OpenvinoRuntimeLoad {
  if (cached) return cached
  try {
    // createRequire: the package is CommonJS and its addon must load lazily, inside this try.
    const require = createRequire(import.meta.url)
    const mod: { addon: typeof addon } = require('openvino-node')
    cached = { runtime: asOpenvinoRuntime(mod.addon), error: null }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    const message = err instanceof Error ? err.message.split('\n')[0] : String(err)
    cached = { runtime: null, error: `openvino-node cannot be loaded: ${code ? `${code}: ` : ''}${message}` }
  }
  return cached
}
