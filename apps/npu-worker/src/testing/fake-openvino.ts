import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import ort from 'onnxruntime-node'
import type { elementTypeString, SupportedTypedArray, Version } from 'openvino-node'
import type {
  OpenvinoRuntime,
  OvAsyncInferQueue,
  OvCompiledModel,
  OvCore,
  OvInferRequest,
  OvModel,
  OvPort,
  OvQueueCallback,
  OvTensor,
} from '../backends/openvino-runtime.js'

// A fake of the part of openvino-node (2026.x) the OpenVINO backend uses, for hosts without its native runtime.
// Test-only: it lives in src/ so that real worker processes can run it, and only under `test_hooks`.
// Every class implements the backend's Ov* types, which are picked from openvino-node's own types, so upstream
// drift breaks compilation. Numbers are never invented: models are read and run by onnxruntime-node in-process.
// Behaviour mirrored from openvinotoolkit/openvino src/bindings/js/node:
// - src/async_infer_queue.cpp: `jobs` requests; startAsync takes an idle one or queues the call (FIFO); the
//   callback gets (null, request, userData) and the returned promise then resolves with userData, or rejects
//   when the callback throws; startAsync without setCallback throws; release() drops the callback; a failure
//   inside a started request is rethrown on the native thread and never reaches JavaScript.
// - src/helper.cpp cast_to_tensor: a Tensor wraps the typed array's whole ArrayBuffer; byteOffset must be 0
//   and the byte size must match; get_supported_types: i8 u8 i16 u16 i32 u32 f32 f64 i64 u64.
// - src/helper.cpp cpp_to_js<ov::PartialShape>: a fully dynamic dimension reads as -1.
// - src/tensor.cpp get_data: element types other than the supported ones fail ("Failed to return tensor data.").
// Plugin behaviour (intel_npu, core): NPU compiles static shapes only; unknown devices are refused;
// OPTIMAL_NUMBER_OF_INFER_REQUESTS is 1 with the LATENCY hint and 4 with THROUGHPUT; CACHE_DIR holds one
// `<hash>.blob` per compiled model, and a second compilation with the same key imports it instead.

/** Options of the fake runtime. */
export interface FakeOpenvinoOptions {
  /** What `getAvailableDevices()` reports; default `['CPU']`. */
  devices?: string[]
}

/** One `compileModel` call the fake saw. */
export interface FakeCompilation {
  device: string
  config: Record<string, string>
  /** True when CACHE_DIR already held this model's blob. */
  cacheHit: boolean
  /** Input shapes compiled, -1 for dynamic dimensions. */
  inputShapes: Record<string, number[]>
}

/** The fake runtime and what it recorded. */
export interface FakeOpenvino {
  runtime: OpenvinoRuntime
  compilations: FakeCompilation[]
  /** Queues created, with their size and the most requests that ran at once. */
  queues: { jobs: number; maxRunning: number }[]
  /** Errors raised inside started requests (the real addon loses these on its native thread). */
  nativeErrors: Error[]
}

const ELEMENT_OF_ORT: Record<string, string> = {
  float32: 'f32',
  float64: 'f64',
  float16: 'f16',
  bool: 'boolean',
  uint8: 'u8',
  int8: 'i8',
  uint16: 'u16',
  int16: 'i16',
  uint32: 'u32',
  int32: 'i32',
  uint64: 'u64',
  int64: 'i64',
}
const ORT_OF_ELEMENT = Object.fromEntries(Object.entries(ELEMENT_OF_ORT).map(([o, e]) => [e, o])) as Record<
  string,
  ort.Tensor.Type
>
const BYTES_OF_ELEMENT: Record<string, number> = {
  i8: 1,
  u8: 1,
  i16: 2,
  u16: 2,
  i32: 4,
  u32: 4,
  f32: 4,
  f64: 8,
  i64: 8,
  u64: 8,
}
const ARRAY_OF_ELEMENT: Record<string, new (length: number) => SupportedTypedArray> = {
  i8: Int8Array,
  u8: Uint8Array,
  i16: Int16Array,
  u16: Uint16Array,
  i32: Int32Array,
  u32: Uint32Array,
  f32: Float32Array,
  f64: Float64Array,
  i64: BigInt64Array,
  u64: BigUint64Array,
}

function count(shape: readonly number[]): number {
  return shape.reduce((n, d) => n * d, 1)
}

class FakePartialShape {
  constructor(readonly dims: readonly number[]) {}
  getDimensions(): number[] {
    return [...this.dims]
  }
  isStatic(): boolean {
    return this.dims.every((d) => d >= 0)
  }
  isDynamic(): boolean {
    return !this.isStatic()
  }
  toString(): string {
    return `[${this.dims.map((d) => (d < 0 ? '?' : String(d))).join(',')}]`
  }
}

class FakePort implements OvPort {
  constructor(
    readonly name: string,
    readonly element: string,
    public dims: number[],
  ) {}
  getAnyName(): string {
    return this.name
  }
  getPartialShape(): FakePartialShape {
    return new FakePartialShape(this.dims)
  }
}

/** Parse a partial-shape string as ov::PartialShape does: `[1,3,?,192]`, `-1` or `?` dynamic, `1..8` bounded. */
function parsePartialShape(text: string): number[] {
  const body = text.trim().replace(/^\[/, '').replace(/\]$/, '').trim()
  if (body === '') return []
  return body.split(',').map((part) => {
    const token = part.trim()
    if (token === '?' || token === '-1' || token.includes('..')) return -1
    const n = Number(token)
    if (!Number.isInteger(n) || n < 0) throw new Error(`Cannot parse partial shape "${text}"`)
    return n
  })
}

class FakeModel implements OvModel {
  readonly inputs: FakePort[]
  readonly outputs: FakePort[]

  constructor(
    readonly path: string,
    readonly session: ort.InferenceSession,
  ) {
    const port = (m: ort.InferenceSession.ValueMetadata) => {
      if (!m.isTensor) throw new Error(`non-tensor value ${m.name}`)
      const dims = m.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : -1))
      return new FakePort(m.name, ELEMENT_OF_ORT[m.type] ?? m.type, dims)
    }
    this.inputs = session.inputMetadata.map(port)
    this.outputs = session.outputMetadata.map(port)
  }

  getOutputElementType(index: number): string {
    const port = this.outputs[index]
    if (!port) throw new Error(`Model output index ${index} is out of range`)
    return port.element
  }

  /** Model::reshape: named inputs get new partial shapes; outputs follow by real shape inference (a run). */
  reshape(partialShapes: Map<string, string>): FakeModel {
    const next = new Map<FakePort, number[]>()
    for (const [name, text] of partialShapes) {
      const port = this.inputs.find((p) => p.name === name)
      if (!port) throw new Error(`Model doesn't have input with name ${name}`)
      const dims = parsePartialShape(text)
      const compatible =
        dims.length === port.dims.length &&
        dims.every((d, i) => d < 0 || port.dims[i]! < 0 || d === port.dims[i])
      if (!compatible) throw new Error(`Shape ${text} is incompatible with input ${name} [${port.dims}]`)
      next.set(port, dims)
    }
    for (const [port, dims] of next) port.dims = dims
    return this
  }

  /** Output shapes for fully static inputs, found by running the model on zeros (ORT's own shape inference). */
  async inferOutputShapes(): Promise<void> {
    if (!this.inputs.every((p) => p.dims.every((d) => d >= 0))) return
    const feeds: Record<string, ort.Tensor> = {}
    for (const p of this.inputs) {
      const ArrayOfElement = ARRAY_OF_ELEMENT[p.element]
      if (!ArrayOfElement) return
      feeds[p.name] = new ort.Tensor(ORT_OF_ELEMENT[p.element]!, new ArrayOfElement(count(p.dims)), p.dims)
    }
    const results = await this.session.run(feeds)
    for (const p of this.outputs) p.dims = [...(results[p.name]?.dims ?? p.dims)]
  }
}

class FakeTensor implements OvTensor {
  readonly #element: string
  readonly #shape: number[]
  readonly data: SupportedTypedArray

  constructor(type: elementTypeString, shape: number[], data: SupportedTypedArray) {
    if (!(type in BYTES_OF_ELEMENT)) throw new Error('Cannot create ov::element::Type')
    if (data.byteOffset !== 0) throw new Error('TypedArray.byteOffset has to be equal to zero.')
    if (count(shape) * BYTES_OF_ELEMENT[type]! !== data.buffer.byteLength) {
      throw new Error("Memory allocated using shape and element::type mismatch passed data's size")
    }
    this.#element = type
    this.#shape = [...shape]
    this.data = data
  }

  /** The tensor's memory itself, as a native view would be: the request reuses it for its next inference. */
  getData(): SupportedTypedArray {
    if (!(this.#element in BYTES_OF_ELEMENT)) throw new Error('Failed to return tensor data.')
    return this.data
  }
  getShape(): number[] {
    return [...this.#shape]
  }
  getElementType(): string {
    return this.#element
  }
}

/** A tensor whose element type the addon cannot read (f16, boolean): only its type and shape are visible. */
class FakeOpaqueTensor implements OvTensor {
  constructor(
    readonly element: string,
    readonly shape: number[],
  ) {}
  getData(): SupportedTypedArray {
    throw new Error('Failed to return tensor data.')
  }
  getShape(): number[] {
    return [...this.shape]
  }
  getElementType(): string {
    return this.element
  }
}

class FakeCompiledModel implements OvCompiledModel {
  constructor(
    readonly model: FakeModel,
    readonly device: string,
    readonly hint: string,
    readonly inputs: FakePort[],
    readonly outputs: FakePort[],
  ) {}

  getProperty(name: string): string | number {
    if (name === 'OPTIMAL_NUMBER_OF_INFER_REQUESTS') return this.hint === 'LATENCY' ? 1 : 4
    if (name === 'PERFORMANCE_HINT') return this.hint
    throw new Error(`Unsupported property ${name} by ${this.device} plugin`)
  }

  createInferRequest(): FakeInferRequest {
    return new FakeInferRequest(this)
  }
}

class FakeInferRequest implements OvInferRequest {
  readonly #tensors = new Map<string, OvTensor>()

  constructor(readonly compiled: FakeCompiledModel) {}

  /** InferRequest::set_tensor: the element type must match, and the shape must fit the compiled shape. */
  setTensor(name: string, tensor: OvTensor): void {
    const port = this.compiled.inputs.find((p) => p.name === name)
    if (!port) throw new Error(`Port for tensor name ${name} was not found.`)
    const shape = tensor.getShape()
    if (tensor.getElementType() !== port.element) {
      throw new Error(
        `The tensor element type is not corresponding with output element type (${tensor.getElementType()} != ${port.element})`,
      )
    }
    if (shape.length !== port.dims.length || shape.some((d, i) => port.dims[i]! >= 0 && port.dims[i] !== d)) {
      throw new Error(
        `The input tensor size is not equal to the model input type: got [${shape}] expecting [${port.dims}].`,
      )
    }
    this.#tensors.set(name, tensor)
  }

  getTensor(name: string): OvTensor {
    const port = [...this.compiled.inputs, ...this.compiled.outputs].find((p) => p.name === name)
    if (!port) throw new Error(`Port for tensor name ${name} was not found.`)
    return this.#tensors.get(name) ?? this.#empty(port)
  }
  getInputTensor(index: number): OvTensor {
    const port = this.compiled.inputs[index]
    if (!port) throw new Error(`Input index ${index} is out of range`)
    return this.#tensors.get(port.name) ?? this.#empty(port)
  }
  getOutputTensor(index: number): OvTensor {
    const port = this.compiled.outputs[index]
    if (!port) throw new Error(`Output index ${index} is out of range`)
    return this.#tensors.get(port.name) ?? this.#empty(port)
  }

  /** Run on the inputs set; outputs land in buffers the request keeps and reuses while the shape holds. */
  async run(): Promise<void> {
    const feeds: Record<string, ort.Tensor> = {}
    for (const port of this.compiled.inputs) {
      const tensor = this.#tensors.get(port.name)
      if (!tensor) throw new Error(`Input ${port.name} is not set`)
      feeds[port.name] = new ort.Tensor(ORT_OF_ELEMENT[port.element]!, tensor.getData(), tensor.getShape())
    }
    const results = await this.compiled.model.session.run(feeds)
    for (const port of this.compiled.outputs) {
      const value = results[port.name]
      if (!value) throw new Error(`output ${port.name} missing`)
      const shape = [...value.dims]
      const previous = this.#tensors.get(port.name)
      if (previous instanceof FakeTensor && previous.getShape().join() === shape.join()) {
        ;(previous.data as Float32Array).set(value.data as Float32Array)
      } else if (port.element in BYTES_OF_ELEMENT) {
        const data = new ARRAY_OF_ELEMENT[port.element]!(count(shape))
        ;(data as Float32Array).set(value.data as Float32Array)
        this.#tensors.set(port.name, new FakeTensor(port.element as elementTypeString, shape, data))
      } else {
        this.#tensors.set(port.name, new FakeOpaqueTensor(port.element, shape))
      }
    }
  }

  #empty(port: FakePort): OvTensor {
    const shape = port.dims.map((d) => Math.max(d, 0))
    const ArrayOfElement = ARRAY_OF_ELEMENT[port.element]
    return ArrayOfElement
      ? new FakeTensor(port.element as elementTypeString, shape, new ArrayOfElement(count(shape)))
      : new FakeOpaqueTensor(port.element, shape)
  }
}

interface Deferred {
  inputs: Record<string, OvTensor> | OvTensor[]
  userData: object
  resolve: (userData: object) => void
  reject: (err: Error) => void
}

/** Create a fake `openvino-node` runtime with the given devices. */
export function createFakeOpenvino(options: FakeOpenvinoOptions = {}): FakeOpenvino {
  const devices = [...(options.devices ?? ['CPU'])]
  const fake: Omit<FakeOpenvino, 'runtime'> = { compilations: [], queues: [], nativeErrors: [] }

  class Core implements OvCore {
    getAvailableDevices(): string[] {
      return [...devices]
    }

    /** Core::get_property: `(name)` for the core, `(device, name)` for a device plugin. */
    getProperty(deviceOrName: string, name?: string): string | number {
      if (name === undefined) throw new Error(`Unsupported property ${deviceOrName} by CPU plugin`)
      throw new Error(`Unsupported property ${name} by ${deviceOrName} plugin`)
    }

    async readModel(modelPath: string): Promise<FakeModel> {
      if (!modelPath.endsWith('.onnx')) throw new Error(`The fake reads ONNX models only, not ${modelPath}`)
      return new FakeModel(modelPath, await ort.InferenceSession.create(modelPath))
    }

    async compileModel(
      model: OvModel,
      device: string,
      config: Record<string, string>,
    ): Promise<FakeCompiledModel> {
      if (!(model instanceof FakeModel)) throw new TypeError("'compileModel' expects a Model")
      if (!devices.some((d) => d === device || d.startsWith(`${device}.`))) {
        throw new Error(`Device with "${device}" name is not registered in the OpenVINO Runtime`)
      }
      const hint = config.PERFORMANCE_HINT ?? 'LATENCY'
      if (!['LATENCY', 'THROUGHPUT', 'CUMULATIVE_THROUGHPUT'].includes(hint)) {
        throw new Error(`Wrong value ${hint} for property key PERFORMANCE_HINT`)
      }
      const dynamic = model.inputs.find((p) => p.dims.some((d) => d < 0))
      if (device.startsWith('NPU') && dynamic) {
        throw new Error(
          `[NPU] Dynamic shapes are not supported: input ${dynamic.name} has shape ${dynamic.getPartialShape().toString()}; reshape the model to a static shape`,
        )
      }
      await model.inferOutputShapes()
      const inputShapes = Object.fromEntries(model.inputs.map((p) => [p.name, [...p.dims]]))
      let cacheHit = false
      if (config.CACHE_DIR) {
        if (!existsSync(config.CACHE_DIR)) mkdirSync(config.CACHE_DIR, { recursive: true })
        const key = createHash('sha256')
          .update(JSON.stringify([model.path, device, inputShapes, hint]))
          .digest('hex')
          .slice(0, 20)
        const blob = join(config.CACHE_DIR, `${key}.blob`)
        cacheHit = existsSync(blob)
        if (!cacheHit) writeFileSync(blob, JSON.stringify({ model: model.path, device, inputShapes }))
      }
      fake.compilations.push({ device, config: { ...config }, cacheHit, inputShapes })
      const copy = (ports: FakePort[]) => ports.map((p) => new FakePort(p.name, p.element, [...p.dims]))
      return new FakeCompiledModel(model, device, hint, copy(model.inputs), copy(model.outputs))
    }
  }

  class AsyncInferQueue implements OvAsyncInferQueue {
    readonly #requests: FakeInferRequest[]
    readonly #idle: number[]
    readonly #awaiting: Deferred[] = []
    readonly #stats: { jobs: number; maxRunning: number }
    #callback: OvQueueCallback | null = null

    constructor(compiled: OvCompiledModel, jobs: number) {
      if (!(compiled instanceof FakeCompiledModel))
        throw new TypeError("'AsyncInferQueue' constructor: invalid CompiledModel")
      if (!Number.isInteger(jobs) || jobs < 1)
        throw new Error(`'AsyncInferQueue' constructor: invalid jobs ${jobs}`)
      this.#requests = Array.from({ length: jobs }, () => compiled.createInferRequest())
      this.#idle = this.#requests.map((_, i) => i)
      this.#stats = { jobs, maxRunning: 0 }
      fake.queues.push(this.#stats)
    }

    setCallback(callback: OvQueueCallback): void {
      this.#callback = callback
    }

    startAsync(inputData: Record<string, OvTensor> | OvTensor[], userData: object): Promise<object> {
      if (typeof inputData !== 'object' || inputData === null)
        throw new Error("'startAsync' expects an object")
      let settle: Pick<Deferred, 'resolve' | 'reject'> | undefined
      const promise = new Promise<object>((resolve, reject) => {
        settle = { resolve, reject }
      })
      const job: Deferred = { inputs: inputData, userData, ...settle! }
      const handle = this.#idle.shift()
      // Like the addon, a tensor the request refuses throws synchronously, and the popped request is not returned.
      if (handle === undefined) this.#awaiting.push(job)
      else this.#start(handle, job)
      return promise
    }

    release(): void {
      this.#callback = null
    }

    #start(handle: number, job: Deferred): void {
      const request = this.#requests[handle]!
      // Inputs by name; an array would be assigned by position (the behaviour issue 37739 warns about).
      const entries = Array.isArray(job.inputs)
        ? job.inputs.map((t, i) => [request.compiled.inputs[i]?.name ?? String(i), t] as const)
        : Object.entries(job.inputs)
      for (const [name, tensor] of entries) request.setTensor(name, tensor)
      if (!this.#callback)
        throw new Error("Callback has to be set before starting inference. Use 'setCallback' method.")
      const callback = this.#callback
      this.#stats.maxRunning = Math.max(this.#stats.maxRunning, this.#requests.length - this.#idle.length)
      request.run().then(
        () => {
          try {
            callback(null, request, job.userData)
            job.resolve(job.userData)
          } catch (err) {
            job.reject(new Error(err instanceof Error ? err.message : String(err)))
          }
          const next = this.#awaiting.shift()
          if (next) this.#start(handle, next)
          else this.#idle.push(handle)
        },
        (err: Error) => {
          // The real queue rethrows on its native thread: the request stays busy and nothing settles.
          fake.nativeErrors.push(err)
        },
      )
    }
  }

  const version: Version = { buildNumber: '2026.4.0-fake', description: 'OpenVINO Runtime (fake)' }
  const runtime = {
    Core,
    Tensor: FakeTensor,
    AsyncInferQueue,
    getOpenvinoVersion: () => version,
  } satisfies OpenvinoRuntime
  return { runtime, ...fake }
}
