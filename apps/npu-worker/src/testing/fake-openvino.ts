import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import onnxProto from 'onnx-proto'
import ort from 'onnxruntime-node'
import type { SupportedTypedArray, Version } from 'openvino-node'
import { isDeviceListed } from '../backends/device-name.js'
import type {
  OpenvinoRuntime,
  OvAsyncInferQueue,
  OvCompiledModel,
  OvCore,
  OvElement,
  OvInferRequest,
  OvModel,
  OvQueueCallback,
  OvTensor,
} from '../backends/openvino-runtime.js'
import { FakeModel, type FakePort, FakePrePostProcessor, isStaticShape } from './fake-openvino-model.js'
import {
  convertElements,
  count,
  FakeOpaqueTensor,
  FakeTensor,
  isSupportedElement,
  ORT_OF_ELEMENT,
} from './fake-openvino-tensor.js'
import { emulateFp16 } from './fp16-onnx.js'

// A fake of the part of openvino-node (2026.x) the OpenVINO backend uses, for hosts without its native runtime.
// Test-only: it lives in src/ so that real worker processes can run it, and only under `test_hooks`.
// Every class implements the backend's Ov* types, which are picked from openvino-node's own declarations, so
// upstream drift breaks compilation. Numbers are never invented: models are read and run by onnxruntime-node
// in-process; on an FP16 device (NPU, GPU) the model is first rewritten to round weights, inputs and
// activations to half (fp16-onnx.ts), as the device computes.
//
// Behaviour mirrored from openvinotoolkit/openvino src/bindings/js/node (and named where it is chosen):
// - async_infer_queue.cpp: `jobs` requests; startAsync takes an idle one or queues the call (FIFO); the
//   callback gets (null, request, userData) and the returned promise then resolves with userData, or rejects
//   when the callback throws; startAsync without a callback fails; release() releases the callback at once.
//   Errors: `errorDelivery: 'callback'` (openvino-node since openvinotoolkit/openvino#34857, merged
//   2026-03-23): a failure inside a started request reaches the callback as `error` and rejects the promise,
//   a tensor the request refuses rejects the promise, and the request returns to the pool. `'lost'` (older
//   addons): a failure inside a started request is rethrown on the native thread and nothing settles; a
//   refused tensor throws synchronously and its request never returns to the pool.
//   A request that completes after its queue was released would call a released ThreadSafeFunction, which
//   aborts the real process (Node's CHECK_NOT_NULL): the fake records it in `aborts`.
// - helper.cpp / tensor_impl.cpp: the 2026 tensor rule (fake-openvino-tensor.ts); tensor.cpp get_data copies.
// - model_wrap.cpp / preprocess/*.cpp: reshape and PrePostProcessor (fake-openvino-model.ts).
// Plugin behaviour (intel_npu, intel_gpu, intel_cpu): the NPU compiles static shapes only and refuses what
// `unsupportedOps` names; unknown devices are refused; OPTIMAL_NUMBER_OF_INFER_REQUESTS is 1 with the LATENCY
// hint on every device and, with THROUGHPUT, 4 on the NPU (its default of 4 inference requests) and the GPU (2
// streams, 2 requests each), and on the CPU the number of streams its heuristic picks from the cores
// (`cpuThroughputStreams` here); INFERENCE_PRECISION_HINT is f16 on the NPU and GPU and f32 on the CPU (a CPU
// with AMX would report bf16; Core Ultra hosts have none); CACHE_DIR is created if missing and holds one
// `<hash>.blob` per compiled model, keyed by the model, device, shapes and compile config; a second
// compilation with the same key imports it instead (faster: `cacheImportLatencyMs`).

const { onnx } = onnxProto

/** Device families the fake knows. */
export type FakeDeviceFamily = 'CPU' | 'GPU' | 'NPU'

/** Something that goes wrong on the fake device, for tests of recovery and of output checks. */
export interface FakeFault {
  /**
   * `hang`: the inference never completes (its request stays busy forever, as a wedged driver's would).
   * `delay`: it completes, but only after `ms` (a slow device: a request abandoned at its limit comes back).
   * `native-error`: it fails inside the native request (delivered as `errorDelivery` says).
   * `drift`: it completes with `offset` added to every floating-point output element (garbled numbers).
   */
  kind: 'hang' | 'delay' | 'native-error' | 'drift'
  /** Device family it strikes; every device when absent. */
  device?: FakeDeviceFamily
  /** Model file path, or the name of a folder on its path (the model's name); every model when absent. */
  model?: string
  /** Inferences that succeed first (default 0). */
  after?: number
  /** Inferences it strikes once it started (default: all that follow). */
  count?: number
  /** For `drift` (default 0.5). */
  offset?: number
  /** For `delay` (default 1000). */
  ms?: number
}

/** Options of the fake runtime. Plain data, so a test can hand them to a child process as JSON. */
export interface FakeOpenvinoOptions {
  /** What `getAvailableDevices()` reports; default `['CPU']`. */
  devices?: string[]
  /** How errors of started requests reach JavaScript; default `callback` (openvino-node 2026). */
  errorDelivery?: 'callback' | 'lost'
  /** Precision each family computes in; default NPU and GPU `f16`, CPU `f32`. */
  precision?: Partial<Record<FakeDeviceFamily, 'f32' | 'f16'>>
  /** When false, compiled models do not report INFERENCE_PRECISION_HINT (as some plugins); default true. */
  reportPrecisionHint?: boolean
  /** ONNX operator types a family refuses to compile, e.g. `{ NPU: ['Erf'] }`. */
  unsupportedOps?: Partial<Record<FakeDeviceFamily, string[]>>
  /** Time a compilation takes, per family or for all (ms); default 0. */
  compileLatencyMs?: number | Partial<Record<FakeDeviceFamily, number>>
  /** Time an import from CACHE_DIR takes (ms); default 0. */
  cacheImportLatencyMs?: number
  /** OPTIMAL_NUMBER_OF_INFER_REQUESTS of the CPU under THROUGHPUT; default 4. */
  cpuThroughputStreams?: number
  /** Input partial shapes by model file path, as an IR converted with bounds declares them (`[1..8,384]`). */
  partialShapes?: Record<string, Record<string, string>>
  /** Device properties over the defaults (`getProperty(device, name)`), by family. */
  deviceProperties?: Partial<Record<FakeDeviceFamily, Record<string, string | number>>>
  /** Faults, in order; the first that applies to an inference strikes it. Also settable with `setFaults`. */
  faults?: FakeFault[]
}

/** One `compileModel` call the fake saw. */
export interface FakeCompilation {
  device: string
  config: Record<string, string>
  /** True when CACHE_DIR already held this model's blob. */
  cacheHit: boolean
  /** Whether the CACHE_DIR folder existed before the call (OpenVINO creates it; the backend should first). */
  cacheDirExisted: boolean | null
  /** Input shapes compiled, -1 for unbounded and [min, max] for bounded dimensions. */
  inputShapes: Record<string, (number | [number, number])[]>
  /** Element types callers exchange, by port (after PrePostProcessor conversions). */
  tensorElements: Record<string, string>
  precision: 'f32' | 'f16'
}

/** A queue the fake made, and what happened on it. */
export interface FakeQueueStats {
  jobs: number
  /** Most requests that ran at once. */
  maxRunning: number
  /** Requests running now (a hung one stays). */
  running: number
  released: boolean
}

/** The fake runtime and what it recorded. */
export interface FakeOpenvino {
  runtime: OpenvinoRuntime
  compilations: FakeCompilation[]
  queues: FakeQueueStats[]
  /** Errors raised inside started requests. */
  nativeErrors: Error[]
  /** Requests that completed after their queue was released: each would have aborted the real process. */
  aborts: string[]
  /** Inferences run, by device family. */
  inferences: Record<FakeDeviceFamily, number>
  /** Replaces the faults (and restarts their counts). */
  setFaults(faults: FakeFault[]): void
}

const DEFAULT_PRECISION: Record<FakeDeviceFamily, 'f32' | 'f16'> = { CPU: 'f32', GPU: 'f16', NPU: 'f16' }
const DEFAULT_PROPERTIES: Record<FakeDeviceFamily, Record<string, string | number>> = {
  CPU: { FULL_DEVICE_NAME: 'Fake CPU (onnxruntime-node)', OPTIMIZATION_CAPABILITIES: 'FP32 INT8' },
  GPU: { FULL_DEVICE_NAME: 'Fake GPU (onnxruntime-node, FP16)', OPTIMIZATION_CAPABILITIES: 'FP32 FP16 INT8' },
  NPU: {
    FULL_DEVICE_NAME: 'Fake NPU (onnxruntime-node, FP16)',
    DEVICE_ARCHITECTURE: '3720',
    NPU_DRIVER_VERSION: 1688,
    // Major in the high 16 bits, minor in the low 16 (openvino/runtime/intel_npu/properties.hpp).
    NPU_COMPILER_VERSION: 7 * 65536 + 21,
    NPU_DEVICE_TOTAL_MEM_SIZE: 16 * 1024 ** 3,
    OPTIMIZATION_CAPABILITIES: 'FP16 INT8 EXPORT_IMPORT',
  },
}

function familyOf(device: string): FakeDeviceFamily {
  const family = device.split('.')[0]
  return family === 'GPU' || family === 'NPU' ? family : 'CPU'
}

function sleep(ms: number): Promise<void> {
  return ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve()
}

class FakeCompiledModel implements OvCompiledModel {
  constructor(
    readonly model: FakeModel,
    readonly device: string,
    readonly hint: string,
    readonly inputs: FakePort[],
    readonly outputs: FakePort[],
    readonly precision: 'f32' | 'f16',
    readonly session: ort.InferenceSession,
    readonly options: FakeOpenvinoOptions,
    readonly run: (request: FakeInferRequest) => Promise<void>,
  ) {}

  getProperty(name: string): string | number {
    const family = familyOf(this.device)
    if (name === 'OPTIMAL_NUMBER_OF_INFER_REQUESTS') {
      if (this.hint === 'LATENCY') return 1
      return family === 'CPU' ? (this.options.cpuThroughputStreams ?? 4) : 4
    }
    if (name === 'PERFORMANCE_HINT') return this.hint
    if (name === 'INFERENCE_PRECISION_HINT' && this.options.reportPrecisionHint !== false)
      return this.precision
    throw new Error(`Unsupported property ${name} by ${family} plugin`)
  }

  createInferRequest(): FakeInferRequest {
    return new FakeInferRequest(this)
  }
}

class FakeInferRequest implements OvInferRequest {
  readonly tensors = new Map<string, OvTensor>()

  constructor(readonly compiled: FakeCompiledModel) {}

  /** InferRequest::set_tensor: the element type must match, and the shape must fit the compiled shape. */
  setTensor(name: string, tensor: OvTensor): void {
    if (!(tensor instanceof FakeTensor))
      throw new Error('Cannot create a tensor from the passed Napi::Value.')
    const port = this.compiled.inputs.find((p) => p.name === name)
    if (!port) throw new Error(`Port for tensor name ${name} was not found.`)
    const shape = tensor.getShape()
    if (tensor.getElementType() !== port.tensorElement) {
      throw new Error(
        `The tensor element type is not corresponding with output element type (${tensor.getElementType()} != ${port.tensorElement})`,
      )
    }
    const fitsPort =
      shape.length === port.dims.length &&
      shape.every((d, i) => {
        const p = port.dims[i]!
        return Array.isArray(p) ? d >= p[0] && d <= p[1] : p < 0 || p === d
      })
    if (!fitsPort) {
      throw new Error(
        `The input tensor size is not equal to the model input type: got [${shape}] expecting ${port.getPartialShape().toString()}.`,
      )
    }
    this.tensors.set(name, tensor)
  }

  getTensor(name: string): OvTensor {
    const port = [...this.compiled.inputs, ...this.compiled.outputs].find((p) => p.name === name)
    if (!port) throw new Error(`Port for tensor name ${name} was not found.`)
    return this.tensors.get(name) ?? this.#empty(port)
  }
  getInputTensor(index: number): OvTensor {
    const port = this.compiled.inputs[index]
    if (!port) throw new Error(`Input index ${index} is out of range`)
    return this.tensors.get(port.name) ?? this.#empty(port)
  }
  getOutputTensor(index: number): OvTensor {
    const port = this.compiled.outputs[index]
    if (!port) throw new Error(`Output index ${index} is out of range`)
    return this.tensors.get(port.name) ?? this.#empty(port)
  }

  /** Runs on the inputs set: converted to the model's types, run, converted back to the callers' types. */
  async infer(): Promise<void> {
    const feeds: Record<string, ort.Tensor> = {}
    for (const port of this.compiled.inputs) {
      const tensor = this.tensors.get(port.name)
      if (!(tensor instanceof FakeTensor)) throw new Error(`Input ${port.name} is not set`)
      const shape = tensor.getShape()
      const data = convertElements(tensor.data, port.tensorElement, port.element, count(shape))
      feeds[port.name] = new ort.Tensor(ORT_OF_ELEMENT[port.element]!, data as Float32Array, shape)
    }
    const results = await this.compiled.session.run(feeds)
    for (const port of this.compiled.outputs) {
      const value = results[port.name]
      if (!value) throw new Error(`output ${port.name} missing`)
      const shape = [...value.dims]
      if (!isSupportedElement(port.tensorElement)) {
        this.tensors.set(port.name, new FakeOpaqueTensor(port.tensorElement, shape))
        continue
      }
      const data = convertElements(
        value.data as SupportedTypedArray,
        port.element,
        port.tensorElement,
        count(shape),
      ) as SupportedTypedArray
      // Output memory belongs to the request and is reused by its next inference.
      const own = data === value.data ? (data as Float32Array).slice() : (data as SupportedTypedArray)
      this.tensors.set(port.name, new FakeTensor(port.tensorElement as OvElement, shape, own))
    }
  }

  /** Adds `offset` to every floating-point output element (a device answering garbage). */
  drift(offset: number): void {
    for (const port of this.compiled.outputs) {
      const tensor = this.tensors.get(port.name)
      if (!(tensor instanceof FakeTensor)) continue
      const { data } = tensor
      if (!(data instanceof Float32Array || data instanceof Float64Array)) continue
      for (let i = 0; i < data.length; i++) data[i] = data[i]! + offset
    }
  }

  #empty(port: FakePort): OvTensor {
    const shape = port.dims.map((d) => (typeof d === 'number' ? Math.max(d, 0) : d[0]))
    if (!isSupportedElement(port.tensorElement)) return new FakeOpaqueTensor(port.tensorElement, shape)
    return new FakeTensor(
      port.tensorElement,
      shape,
      convertElements(
        new Float32Array(count(shape)),
        'f32',
        port.tensorElement,
        count(shape),
      ) as SupportedTypedArray,
    )
  }
}

interface Deferred {
  inputs: Record<string, OvTensor> | OvTensor[]
  userData: object
  resolve: (userData: object) => void
  reject: (err: Error) => void
}

function operatorsOf(bytes: Uint8Array): { opType: string; name: string }[] {
  const model = onnx.ModelProto.decode(bytes)
  return (model.graph?.node ?? []).map((n) => ({ opType: n.opType ?? '', name: n.name ?? '' }))
}

/** Create a fake `openvino-node` runtime. */
export function createFakeOpenvino(options: FakeOpenvinoOptions = {}): FakeOpenvino {
  const devices = [...(options.devices ?? ['CPU'])]
  const errorDelivery = options.errorDelivery ?? 'callback'
  let faults = (options.faults ?? []).map((fault) => ({ fault, seen: 0, struck: 0 }))
  const fake: Omit<FakeOpenvino, 'runtime'> = {
    compilations: [],
    queues: [],
    nativeErrors: [],
    aborts: [],
    inferences: { CPU: 0, GPU: 0, NPU: 0 },
    setFaults(next) {
      faults = next.map((fault) => ({ fault, seen: 0, struck: 0 }))
    },
  }
  // Emulated FP16 sessions, by model file: made once, as a real device compiles once per process.
  const fp16Sessions = new Map<string, Promise<ort.InferenceSession>>()

  /** The fault that strikes this inference, if any (counting it for every fault that applies). */
  function faultFor(compiled: FakeCompiledModel): FakeFault | null {
    const family = familyOf(compiled.device)
    const parts = compiled.model.path.split(/[\\/]/)
    let strike: FakeFault | null = null
    for (const state of faults) {
      const { fault } = state
      if (fault.device && fault.device !== family) continue
      if (fault.model && fault.model !== compiled.model.path && !parts.includes(fault.model)) continue
      state.seen++
      if (strike) continue
      if (state.seen > (fault.after ?? 0) && state.struck < (fault.count ?? Number.POSITIVE_INFINITY)) {
        state.struck++
        strike = fault
      }
    }
    return strike
  }

  /** One inference of a request, with the faults applied. */
  async function run(request: FakeInferRequest): Promise<void> {
    const fault = faultFor(request.compiled)
    fake.inferences[familyOf(request.compiled.device)]++
    if (fault?.kind === 'hang') return new Promise<never>(() => {})
    if (fault?.kind === 'delay') await sleep(fault.ms ?? 1000)
    if (fault?.kind === 'native-error') {
      throw new Error(`Exception from src/inference/src/dev/isync_infer_request.cpp: fake native failure`)
    }
    await request.infer()
    if (fault?.kind === 'drift') request.drift(fault.offset ?? 0.5)
  }

  class Core implements OvCore {
    getAvailableDevices(): string[] {
      return [...devices]
    }

    /** Core::get_property: `(name)` for the core, `(device, name)` for a device plugin. */
    getProperty(deviceOrName: string, name?: string): string | number {
      if (name === undefined) {
        if (deviceOrName === 'AVAILABLE_DEVICES') return devices.join(' ')
        throw new Error(`Unsupported property ${deviceOrName} by core`)
      }
      if (!isDeviceListed(devices, deviceOrName)) {
        throw new Error(`Device with "${deviceOrName}" name is not registered in the OpenVINO Runtime`)
      }
      const family = familyOf(deviceOrName)
      const value = { ...DEFAULT_PROPERTIES[family], ...options.deviceProperties?.[family] }[name]
      if (value === undefined) throw new Error(`Unsupported property ${name} by ${family} plugin`)
      return value
    }

    async readModel(modelPath: string): Promise<FakeModel> {
      if (!modelPath.endsWith('.onnx')) throw new Error(`The fake reads ONNX models only, not ${modelPath}`)
      const bytes = new Uint8Array(await readFile(modelPath))
      return new FakeModel(
        modelPath,
        bytes,
        await ort.InferenceSession.create(bytes),
        options.partialShapes?.[modelPath],
      )
    }

    async compileModel(
      model: OvModel,
      device: string,
      config: Record<string, string>,
    ): Promise<FakeCompiledModel> {
      if (!(model instanceof FakeModel)) throw new TypeError("'compileModel' expects a Model")
      if (!isDeviceListed(devices, device)) {
        throw new Error(`Device with "${device}" name is not registered in the OpenVINO Runtime`)
      }
      const family = familyOf(device)
      const hint = config.PERFORMANCE_HINT ?? 'LATENCY'
      if (!['LATENCY', 'THROUGHPUT', 'CUMULATIVE_THROUGHPUT'].includes(hint)) {
        throw new Error(`Wrong value ${hint} for property key PERFORMANCE_HINT`)
      }
      const dynamic = model.inputs.find((p) => !isStaticShape(p.dims))
      if (family === 'NPU' && dynamic) {
        throw new Error(
          `[NPU] Dynamic shapes are not supported: input ${dynamic.name} has shape ${dynamic.getPartialShape().toString()}; reshape the model to a static shape`,
        )
      }
      const refused = options.unsupportedOps?.[family] ?? []
      if (refused.length > 0) {
        const op = operatorsOf(model.bytes).find((o) => refused.includes(o.opType))
        if (op) {
          throw new Error(
            `[${family}] Cannot compile model: operation ${op.name || '(unnamed)'} of type ${op.opType} is not supported by the ${family} compiler`,
          )
        }
      }
      await model.inferOutputShapes()
      const inputShapes = Object.fromEntries(model.inputs.map((p) => [p.name, [...p.dims]]))
      const tensorElements = Object.fromEntries(
        [...model.inputs, ...model.outputs].map((p) => [p.name, p.tensorElement]),
      )
      let cacheHit = false
      let cacheDirExisted: boolean | null = null
      if (config.CACHE_DIR) {
        cacheDirExisted = existsSync(config.CACHE_DIR)
        mkdirSync(config.CACHE_DIR, { recursive: true })
        const { CACHE_DIR: _, ...compileConfig } = config
        const key = createHash('sha256')
          .update(createHash('sha256').update(model.bytes).digest('hex'))
          .update(JSON.stringify([device, inputShapes, tensorElements, compileConfig]))
          .digest('hex')
          .slice(0, 20)
        const blob = join(config.CACHE_DIR, `${key}.blob`)
        cacheHit = existsSync(blob)
        if (!cacheHit) writeFileSync(blob, JSON.stringify({ model: model.path, device, inputShapes }))
      }
      const latency =
        typeof options.compileLatencyMs === 'number'
          ? options.compileLatencyMs
          : (options.compileLatencyMs?.[family] ?? 0)
      await sleep(cacheHit ? (options.cacheImportLatencyMs ?? 0) : latency)
      const precision = options.precision?.[family] ?? DEFAULT_PRECISION[family]
      let session = model.session
      if (precision === 'f16') {
        let made = fp16Sessions.get(model.path)
        if (!made) {
          made = ort.InferenceSession.create(emulateFp16(model.bytes).model)
          fp16Sessions.set(model.path, made)
        }
        session = await made
      }
      fake.compilations.push({
        device,
        config: { ...config },
        cacheHit,
        cacheDirExisted,
        inputShapes,
        tensorElements,
        precision,
      })
      return new FakeCompiledModel(
        model,
        device,
        hint,
        model.inputs.map((p) => p.copy()),
        model.outputs.map((p) => p.copy()),
        precision,
        session,
        options,
        run,
      )
    }
  }

  class AsyncInferQueue implements OvAsyncInferQueue {
    readonly #requests: FakeInferRequest[]
    readonly #idle: number[]
    readonly #awaiting: Deferred[] = []
    readonly #stats: FakeQueueStats
    #callback: OvQueueCallback | null = null

    constructor(compiled: OvCompiledModel, jobs: number) {
      if (!(compiled instanceof FakeCompiledModel))
        throw new TypeError("'AsyncInferQueue' constructor method called with incorrect parameters.")
      if (!Number.isInteger(jobs) || jobs < 1)
        throw new Error(`'AsyncInferQueue' constructor: invalid jobs ${jobs}`)
      this.#requests = Array.from({ length: jobs }, () => compiled.createInferRequest())
      this.#idle = this.#requests.map((_, i) => i)
      this.#stats = { jobs, maxRunning: 0, running: 0, released: false }
      fake.queues.push(this.#stats)
    }

    setCallback(callback: OvQueueCallback): void {
      if (typeof callback !== 'function')
        throw new Error("'setCallback' method called with incorrect parameters.")
      this.#callback = callback
    }

    startAsync(inputData: Record<string, OvTensor> | OvTensor[], userData: object): Promise<object> {
      if (typeof inputData !== 'object' || inputData === null)
        throw new Error("'startAsync' method called with incorrect parameters.")
      let settle: Pick<Deferred, 'resolve' | 'reject'> | undefined
      const promise = new Promise<object>((resolve, reject) => {
        settle = { resolve, reject }
      })
      const job: Deferred = { inputs: inputData, userData, ...settle! }
      const handle = this.#idle.shift()
      if (handle === undefined) {
        this.#awaiting.push(job)
        return promise
      }
      try {
        this.#start(handle, job)
      } catch (err) {
        // Older addons: the error is thrown and the popped request is never returned to the pool.
        if (errorDelivery === 'lost') throw err
        this.#idle.push(handle)
        job.reject(err as Error)
      }
      return promise
    }

    release(): void {
      this.#callback = null
      this.#stats.released = true
    }

    /** Sets the inputs on request `handle` and starts it; throws what set_tensor or a missing callback throws. */
    #start(handle: number, job: Deferred): void {
      const request = this.#requests[handle]!
      // Inputs by name; an array would be assigned by position (the behaviour issue 37739 warns about).
      const entries = Array.isArray(job.inputs)
        ? job.inputs.map((t, i) => [request.compiled.inputs[i]?.name ?? String(i), t] as const)
        : Object.entries(job.inputs)
      for (const [name, tensor] of entries) request.setTensor(name, tensor)
      if (!this.#callback)
        throw new Error("Callback has to be set before starting inference. Use 'setCallback' method.")
      this.#stats.running++
      this.#stats.maxRunning = Math.max(this.#stats.maxRunning, this.#stats.running)
      request.compiled.run(request).then(
        () => this.#finish(handle, job, null),
        (err: Error) => {
          fake.nativeErrors.push(err)
          // Older addons rethrow on the native thread: the request stays busy and nothing settles.
          if (errorDelivery === 'callback') this.#finish(handle, job, err)
        },
      )
    }

    /** The request is done: call back on the main thread, then start the next waiting call on it. */
    #finish(handle: number, job: Deferred, error: Error | null): void {
      this.#stats.running--
      const request = this.#requests[handle]!
      const callback = this.#callback
      if (!callback) {
        fake.aborts.push(
          'a request completed after its AsyncInferQueue was released (the real process aborts)',
        )
        return
      }
      try {
        callback(error, request, job.userData)
        if (error) job.reject(error)
        else job.resolve(job.userData)
      } catch (err) {
        job.reject(new Error(err instanceof Error ? err.message : String(err)))
      }
      for (let next = this.#awaiting.shift(); next; next = this.#awaiting.shift()) {
        try {
          this.#start(handle, next)
          return
        } catch (err) {
          // A refused tensor of a queued call: its promise rejects and the request takes the next one.
          next.reject(err as Error)
        }
      }
      this.#idle.push(handle)
    }
  }

  const version: Version = { buildNumber: '2026.4.0-fake', description: 'OpenVINO Runtime (fake)' }
  const runtime = {
    Core,
    Tensor: FakeTensor,
    AsyncInferQueue,
    preprocess: { PrePostProcessor: FakePrePostProcessor },
    getOpenvinoVersion: () => version,
  } satisfies OpenvinoRuntime
  return { runtime, ...fake }
}
