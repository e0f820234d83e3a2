import { createRequire } from 'node:module'
import type {
  AsyncInferQueue,
  addon,
  CompiledModel,
  Core,
  elementTypeString,
  InputTensorInfo,
  Model,
  Output,
  PartialShape,
  SupportedTypedArray,
  Tensor,
  Version,
} from 'openvino-node'

// The part of openvino-node's addon the OpenVINO backend uses, picked from the package's own declarations
// (openvino-node/types/addon.d.ts). Those interfaces fold the constructor into the instance type
// (`interface Core { new (): Core; ... }`), which no plain object can satisfy, so where a member returns or
// takes another such interface the member is re-declared with the Ov* type instead, keeping upstream's
// parameter types. `loadOpenvinoRuntime` assigns the real addon to `OpenvinoRuntime`, so an incompatible
// upstream change breaks compilation here; `src/testing/fake-openvino.ts` implements the same types.
//
// Where the declarations disagree with the addon's C++ (src/bindings/js/node/src), the C++ wins, and the
// difference is named at the member.

/** A partial shape: dimensions are a number, -1 (unbounded) or `[min, max]` (an interval, from IR). */
export type OvPartialShape = Pick<PartialShape, 'getDimensions' | 'isStatic' | 'isDynamic' | 'toString'>

/** A model input or output port (`Output` of openvino-node). */
export type OvPort = Pick<Output, 'getAnyName'> & {
  getPartialShape(): OvPartialShape
}

/** A read model (`Model` of openvino-node): ports, element types of outputs, reshape. */
export type OvModel = Pick<Model, 'getOutputElementType'> & {
  readonly inputs: OvPort[]
  readonly outputs: OvPort[]
  /**
   * Declared with two overloads; model_wrap.cpp implements the one-shape form only (`ov::Model::reshape(
   * PartialShape)`, a model with exactly one input). The `Map` form has no C++ counterpart: models with
   * several inputs are given static shapes through `PrePostProcessor` (`input(name).tensor().setShape`).
   */
  reshape(partialShape: string): unknown
}

/** A tensor (`Tensor` of openvino-node). */
export type OvTensor = Pick<Tensor, 'getData' | 'getShape'> & {
  /**
   * Declared to return the `element` enum; the addon returns the element type string (tensor.cpp:
   * `cpp_to_js<ov::element::Type_t, Napi::String>`, i.e. `ov::element::Type::to_string()`: `f32`, `f16`,
   * `boolean`...). The enum's values are those strings at run time too, although declared numeric. Typed
   * as both so that the real addon still fits; read it with `String(...)`.
   */
  getElementType(): ReturnType<Tensor['getElementType']> | string
}

/** An infer request handed to the queue callback (`InferRequest` of openvino-node). */
export interface OvInferRequest {
  getTensor(name: string): OvTensor
  getInputTensor(idx: number): OvTensor
  getOutputTensor(idx: number): OvTensor
}

/** A compiled model (`CompiledModel` of openvino-node). */
export type OvCompiledModel = Pick<CompiledModel, 'getProperty'> & {
  createInferRequest(): OvInferRequest
}

/** Callback of `AsyncInferQueue.setCallback`: `(error, request, userData)` (upstream `AsyncInferQueueCallback`). */
export type OvQueueCallback = (error: Error | null, request: OvInferRequest, userData: object) => void

/**
 * The native request pool (`AsyncInferQueue` of openvino-node). `release()` releases the queue's callback
 * (a ThreadSafeFunction) at once, without waiting: a request still running when it completes later calls the
 * released function, which aborts the process (async_infer_queue.cpp `m_tsfn.BlockingCall` on a null
 * function: Node's `CHECK_NOT_NULL`). Never release a queue while a request of it may still complete.
 */
export type OvAsyncInferQueue = Pick<AsyncInferQueue, 'release'> & {
  setCallback(callback: OvQueueCallback): void
  /** The backend passes inputs by name (a Tensor[] would be assigned by position). */
  startAsync(inputData: Record<string, OvTensor> | OvTensor[], userData: object): Promise<object>
}

/** OpenVINO Core (`Core` of openvino-node). */
export type OvCore = Pick<Core, 'getAvailableDevices' | 'getProperty'> & {
  readModel(modelPath: string): Promise<OvModel>
  compileModel(model: OvModel, deviceName: string, config: Record<string, string>): Promise<OvCompiledModel>
}

/** Element types the addon can create tensors of and read back (helper.cpp `get_supported_types`). */
export type OvElement = Exclude<elementTypeString, 'string'>

/** `PrePostProcessor.input(...).tensor()` (`InputTensorInfo` of openvino-node). */
export type OvInputTensorInfo = Pick<InputTensorInfo, 'setElementType' | 'setShape'>

/**
 * `PrePostProcessor.output(...).tensor()`. Upstream declares `setElementType` to return an `InputTensorInfo`
 * (a copy-paste slip); output_tensor_info.cpp returns the OutputTensorInfo itself.
 */
export interface OvOutputTensorInfo {
  setElementType(elementType: OvElement): unknown
}

/**
 * `preprocess.PrePostProcessor` of openvino-node: what the backend uses to convert FP16 and BOOL ports at the
 * boundary and to give multi-input models static shapes. `build()` is declared to return the
 * PrePostProcessor; pre_post_process_wrap.cpp's `build` returns nothing and changes the model in place.
 */
export interface OvPrePostProcessor {
  input(idxOrTensorName: number | string): { tensor(): OvInputTensorInfo }
  output(idxOrTensorName: number | string): { tensor(): OvOutputTensorInfo }
  build(): unknown
}

/** The part of `openvino-node`'s addon the OpenVINO backend uses. The real addon and the test fake both fit. */
export interface OpenvinoRuntime {
  Core: new () => OvCore
  Tensor: new (type: OvElement, shape: number[], data: SupportedTypedArray) => OvTensor
  AsyncInferQueue: new (compiledModel: OvCompiledModel, jobs: number) => OvAsyncInferQueue
  preprocess: { PrePostProcessor: new (model: OvModel) => OvPrePostProcessor }
  getOpenvinoVersion(): Version
}

/** Result of loading the native runtime: the runtime, or why it cannot be used here. */
export type OpenvinoRuntimeLoad = { runtime: OpenvinoRuntime; error: null } | { runtime: null; error: string }

let cached: OpenvinoRuntimeLoad | undefined

/** Type-check the real addon against `OpenvinoRuntime`; every member is checked by assignment. */
function asOpenvinoRuntime(real: typeof addon): OpenvinoRuntime {
  // These constructors take the addon's own `CompiledModel` / `Model`, interfaces no object but the addon's
  // can satisfy (see above). Their shapes are checked here against those types; widening the parameter to the
  // Ov* type is sound because the backend only passes objects this same runtime made.
  const AsyncInferQueueOfAddon: new (compiledModel: CompiledModel, jobs: number) => OvAsyncInferQueue =
    real.AsyncInferQueue
  const PrePostProcessorOfAddon: new (model: Model) => OvPrePostProcessor = real.preprocess.PrePostProcessor
  const { Core, Tensor, getOpenvinoVersion }: Omit<OpenvinoRuntime, 'AsyncInferQueue' | 'preprocess'> = real
  return {
    Core,
    Tensor,
    AsyncInferQueue: AsyncInferQueueOfAddon as unknown as OpenvinoRuntime['AsyncInferQueue'],
    preprocess: {
      PrePostProcessor:
        PrePostProcessorOfAddon as unknown as OpenvinoRuntime['preprocess']['PrePostProcessor'],
    },
    getOpenvinoVersion: () => getOpenvinoVersion.call(real),
  }
}

/** Why a native package cannot be loaded, in the words `/health` and `npu-worker doctor` show. */
export function describeLoadError(packageName: string, err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code
  const message = err instanceof Error ? err.message.split('\n')[0] : String(err)
  return `${packageName} cannot be loaded: ${code ? `${code}: ` : ''}${message}`
}

/**
 * Load `openvino-node` once. Without its native runtime (`MODULE_NOT_FOUND` for `ov_node_addon.node`, or the
 * package skipped entirely as an optional dependency on Node 20) this returns the reason instead of throwing.
 * (`openvino-genai-node` needs its own loader: it is an ES module whose failed import also raises an unhandled
 * rejection, see ENVIRONMENT.md; its reason should be worded by {@link describeLoadError} too.)
 */
export function loadOpenvinoRuntime(): OpenvinoRuntimeLoad {
  if (cached) return cached
  try {
    // createRequire: the package is CommonJS and its addon must load lazily, inside this try.
    const require = createRequire(import.meta.url)
    const mod: { addon: typeof addon } = require('openvino-node')
    cached = { runtime: asOpenvinoRuntime(mod.addon), error: null }
  } catch (err) {
    cached = { runtime: null, error: describeLoadError('openvino-node', err) }
  }
  return cached
}
