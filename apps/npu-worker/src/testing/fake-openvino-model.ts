import ort from 'onnxruntime-node'
import type { InputTensorInfo } from 'openvino-node'
import type {
  OvElement,
  OvModel,
  OvOutputTensorInfo,
  OvPartialShape,
  OvPort,
  OvPrePostProcessor,
} from '../backends/openvino-runtime.js'
import { count, ELEMENT_OF_ORT, isSupportedElement, ORT_OF_ELEMENT } from './fake-openvino-tensor.js'

// Models of the fake openvino-node: partial shapes, ports, `Model` and `preprocess.PrePostProcessor`.
// Mirrored from src/bindings/js/node: helper.cpp cpp_to_js<ov::PartialShape> (a static dimension is a number,
// an unbounded one -1, a bounded one `[min, max]`), model_wrap.cpp (reshape: one partial shape for a
// one-input model; no Map form), preprocess/*.cpp (setElementType accepts the supported types only, setShape
// a static shape; build() returns nothing and changes the model in place).

/** One dimension: a length, -1 (unbounded), or `[min, max]`. */
export type FakeDimension = number | [number, number]

/** True when every dimension has one length. */
export function isStaticShape(dims: readonly FakeDimension[]): dims is number[] {
  return dims.every((d) => typeof d === 'number' && d >= 0)
}

function dimText(d: FakeDimension): string {
  if (Array.isArray(d)) return `${d[0]}..${d[1]}`
  return d < 0 ? '?' : String(d)
}

/** Parses a partial shape as ov::PartialShape does: `[1,3,?,192]`; `-1` or `?` unbounded; `1..8` bounded. */
export function parsePartialShape(text: string): FakeDimension[] {
  const body = text.trim().replace(/^\[/, '').replace(/\]$/, '').trim()
  if (body === '') return []
  return body.split(',').map((part): FakeDimension => {
    const token = part.trim()
    if (token === '?' || token === '-1') return -1
    const interval = /^(\d*)\.\.(\d*)$/.exec(token)
    if (interval) {
      // An interval without an upper bound reads back as -1 (cpp_to_js: max_length is -1 when unbounded).
      if (interval[2] === '') return -1
      return [Number(interval[1] || 0), Number(interval[2])]
    }
    const n = Number(token)
    if (!Number.isInteger(n) || n < 0) throw new Error(`Cannot parse partial shape "${text}"`)
    return n
  })
}

/** `dims` (a new shape) fits `current`: same rank, and every dimension inside the current one. */
function fits(dims: readonly FakeDimension[], current: readonly FakeDimension[]): boolean {
  return (
    dims.length === current.length &&
    dims.every((d, i) => {
      const c = current[i]!
      if (typeof c === 'number' && c < 0) return true
      const [lo, hi] = Array.isArray(c) ? c : [c, c]
      const [dlo, dhi] = Array.isArray(d) ? d : d < 0 ? [0, Number.POSITIVE_INFINITY] : [d, d]
      return dlo >= lo && dhi <= hi
    })
  )
}

/** A partial shape (`PartialShape` of openvino-node). */
export class FakePartialShape implements OvPartialShape {
  constructor(readonly dims: readonly FakeDimension[]) {}
  getDimensions(): FakeDimension[] {
    return this.dims.map((d) => (Array.isArray(d) ? [d[0], d[1]] : d))
  }
  isStatic(): boolean {
    return isStaticShape(this.dims)
  }
  isDynamic(): boolean {
    return !this.isStatic()
  }
  toString(): string {
    return `[${this.dims.map(dimText).join(',')}]`
  }
}

/** A model port. `element` is the model's type; `tensorElement` the type callers exchange (PrePostProcessor). */
export class FakePort implements OvPort {
  tensorElement: string

  constructor(
    readonly name: string,
    readonly element: string,
    public dims: FakeDimension[],
  ) {
    this.tensorElement = element
  }
  getAnyName(): string {
    return this.name
  }
  getPartialShape(): FakePartialShape {
    return new FakePartialShape(this.dims)
  }
  copy(): FakePort {
    const port = new FakePort(
      this.name,
      this.element,
      this.dims.map((d) => (Array.isArray(d) ? [...d] : d)),
    )
    port.tensorElement = this.tensorElement
    return port
  }
}

/** Zeros of a model element type, as ONNX Runtime holds it. */
function zerosOf(element: string, n: number): ort.Tensor['data'] {
  switch (element) {
    case 'f32':
      return new Float32Array(n)
    case 'f64':
      return new Float64Array(n)
    case 'f16':
    case 'u16':
      return new Uint16Array(n)
    case 'boolean':
    case 'u8':
      return new Uint8Array(n)
    case 'i8':
      return new Int8Array(n)
    case 'i16':
      return new Int16Array(n)
    case 'i32':
      return new Int32Array(n)
    case 'u32':
      return new Uint32Array(n)
    case 'i64':
      return new BigInt64Array(n)
    case 'u64':
      return new BigUint64Array(n)
    default:
      throw new Error(`no zeros for ${element}`)
  }
}

/** A read model (`Model` of openvino-node), run by onnxruntime-node. */
export class FakeModel implements OvModel {
  readonly inputs: FakePort[]
  readonly outputs: FakePort[]

  constructor(
    readonly path: string,
    readonly bytes: Uint8Array,
    readonly session: ort.InferenceSession,
    /** Input partial shapes that differ from the ONNX file's, as an IR converted with bounds declares them. */
    partialShapes: Readonly<Record<string, string>> = {},
  ) {
    const port = (m: ort.InferenceSession.ValueMetadata) => {
      if (!m.isTensor) throw new Error(`non-tensor value ${m.name}`)
      const given = partialShapes[m.name]
      const dims = given
        ? parsePartialShape(given)
        : m.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : -1))
      return new FakePort(m.name, ELEMENT_OF_ORT[m.type] ?? m.type, dims)
    }
    this.inputs = session.inputMetadata.map(port)
    this.outputs = session.outputMetadata.map(port)
  }

  /** model_wrap.cpp get_output_element_type: the element type string of output `index`. */
  getOutputElementType(index: number): string {
    const port = this.outputs[index]
    if (!port) throw new Error(`Model output index ${index} is out of range`)
    return port.tensorElement
  }

  /**
   * model_wrap.cpp reshape: `reshape(partialShape: PartialShape | string, variablesShapes?)`, which calls
   * `ov::Model::reshape(PartialShape)` and so needs a model with exactly one input. The `Map` form declared in
   * addon.d.ts has no implementation: the binding's argument validation refuses it.
   */
  reshape(partialShape: unknown, variablesShapes?: unknown): FakeModel {
    const text =
      typeof partialShape === 'string'
        ? partialShape
        : partialShape instanceof FakePartialShape
          ? partialShape.toString()
          : null
    if (text === null || (variablesShapes !== undefined && typeof variablesShapes !== 'object')) {
      throw new Error(
        "'reshape' method called with incorrect parameters.\nThe following signatures are supported:\n  reshape(PartialShape | string)\n  reshape(PartialShape | string, object)",
      )
    }
    if (this.inputs.length !== 1) {
      throw new Error(
        `reshape(PartialShape) needs a model with exactly one input; this one has ${this.inputs.length}`,
      )
    }
    const port = this.inputs[0]!
    const dims = parsePartialShape(text)
    // ov::Model::reshape replaces the Parameter's shape and re-infers the graph: a rank the operators cannot
    // take fails; a different length for a static dimension fails only where an operator needs it (here: when
    // ONNX Runtime runs the reshaped model at compile time).
    if (dims.length !== port.dims.length) {
      throw new Error(
        `Shape ${text} is incompatible with input ${port.name} ${port.getPartialShape().toString()}`,
      )
    }
    port.dims = dims
    this.#invalidateOutputs()
    return this
  }

  /** Makes input `port` static (PrePostProcessor setShape); it must fit the current partial shape. */
  setStaticInput(port: FakePort, dims: number[]): void {
    if (!fits(dims, port.dims)) {
      throw new Error(
        `Resulting shape '[${dims.join(',')}]' after preprocessing is not aligned with original parameter's shape: ${port.getPartialShape().toString()}, input parameter: ${port.name}`,
      )
    }
    port.dims = [...dims]
    this.#invalidateOutputs()
  }

  #invalidateOutputs(): void {
    for (const p of this.outputs) p.dims = p.dims.map(() => -1)
  }

  /** Output shapes for static inputs, found by running the model on zeros (ONNX Runtime's shape inference). */
  async inferOutputShapes(): Promise<void> {
    if (!this.inputs.every((p) => isStaticShape(p.dims))) return
    const feeds: Record<string, ort.Tensor> = {}
    for (const p of this.inputs) {
      const dims = p.dims as number[]
      feeds[p.name] = new ort.Tensor(ORT_OF_ELEMENT[p.element]!, zerosOf(p.element, count(dims)), dims)
    }
    const results = await this.session.run(feeds)
    for (const p of this.outputs) p.dims = [...(results[p.name]?.dims ?? p.dims)]
  }
}

function checkedElement(type: unknown): OvElement {
  // helper.cpp js_to_cpp<ov::element::Type_t>: only the supported types convert.
  if (typeof type !== 'string' || !isSupportedElement(type))
    throw new Error('Cannot create ov::element::Type')
  return type
}

/** `PrePostProcessor.input(...).tensor()`: what the caller's tensor will be. */
class FakeInputTensorInfo implements InputTensorInfo {
  elementType: OvElement | null = null
  shape: number[] | null = null

  setElementType(elementType: unknown): FakeInputTensorInfo {
    this.elementType = checkedElement(elementType)
    return this
  }
  setShape(shape: unknown): FakeInputTensorInfo {
    if (!Array.isArray(shape)) throw new Error('Passed argument must be of type Array or TypedArray.')
    if (!shape.every((d) => typeof d === 'number')) throw new Error('Passed array must contain only numbers.')
    this.shape = shape.map((d) => Math.trunc(d))
    return this
  }
  setLayout(_layout: string): FakeInputTensorInfo {
    return this
  }
}

/** `PrePostProcessor.output(...).tensor()`. */
class FakeOutputTensorInfo implements OvOutputTensorInfo {
  elementType: OvElement | null = null
  setElementType(elementType: unknown): FakeOutputTensorInfo {
    this.elementType = checkedElement(elementType)
    return this
  }
}

/** `preprocess.PrePostProcessor` of openvino-node: element type conversions and static tensor shapes. */
export class FakePrePostProcessor implements OvPrePostProcessor {
  readonly #model: FakeModel
  readonly #inputs = new Map<FakePort, FakeInputTensorInfo>()
  readonly #outputs = new Map<FakePort, FakeOutputTensorInfo>()

  constructor(model: OvModel) {
    if (!(model instanceof FakeModel))
      throw new TypeError('Invalid number of arguments for PrePostProcessor constructor.')
    this.#model = model
  }

  #port(ports: FakePort[], which: number | string | undefined, kind: 'input' | 'output'): FakePort {
    const port =
      which === undefined
        ? ports.length === 1
          ? ports[0]
          : undefined
        : typeof which === 'number'
          ? ports[which]
          : ports.find((p) => p.name === which)
    if (!port) throw new Error(`PrePostProcessor: the model has no ${kind} ${which ?? '(single)'}`)
    return port
  }

  input(idxOrTensorName?: number | string): { tensor(): FakeInputTensorInfo } {
    const port = this.#port(this.#model.inputs, idxOrTensorName, 'input')
    const info = this.#inputs.get(port) ?? new FakeInputTensorInfo()
    this.#inputs.set(port, info)
    return { tensor: () => info }
  }

  output(idxOrTensorName?: number | string): { tensor(): FakeOutputTensorInfo } {
    const port = this.#port(this.#model.outputs, idxOrTensorName, 'output')
    const info = this.#outputs.get(port) ?? new FakeOutputTensorInfo()
    this.#outputs.set(port, info)
    return { tensor: () => info }
  }

  /** Applies the conversions to the model in place; returns nothing, as pre_post_process_wrap.cpp does. */
  build(): void {
    for (const [port, info] of this.#inputs) {
      if (info.shape) this.#model.setStaticInput(port, info.shape)
      if (info.elementType) port.tensorElement = info.elementType
    }
    for (const [port, info] of this.#outputs) if (info.elementType) port.tensorElement = info.elementType
  }
}
