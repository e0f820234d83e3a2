import {
  type Datatype,
  decodeBytesElements,
  elementBytes,
  elementCount,
  encodeBytesElements,
  type NumericDatatype,
  type TensorArray,
  TYPED_ARRAY_OF,
  utf8Text,
} from '@npu-fleet/protocol'
import type { TensorInfo } from '../backends/backend.js'
import type { Tensor } from '../backends/tensor.js'
import { ErrBadInferRequest } from '../errors.js'
import { fromBfloat16Bits, toBfloat16Bits } from './bfloat16.js'
import { fromHalfBits, toHalfBits } from './half-float.js'

// One tensor between its wire forms and the backends' typed arrays, for REST and gRPC alike: elements (JSON
// `data`, gRPC typed contents) and raw little-endian bytes (the binary extension, gRPC raw contents) in, the
// same two forms out. Every element is checked; errors are 400s that name the field.

/** Integer ranges for the range check of integer datatypes. */
const INT_RANGE: Partial<Record<Datatype, [number, number]>> = {
  INT8: [-128, 127],
  INT16: [-32768, 32767],
  INT32: [-2147483648, 2147483647],
  UINT8: [0, 255],
  UINT16: [0, 65535],
  UINT32: [0, 4294967295],
}

const INT64_MIN = -(2n ** 63n)
const INT64_MAX = 2n ** 63n - 1n
const UINT64_MAX = 2n ** 64n - 1n

function bad(message: string): never {
  throw new ErrBadInferRequest(message)
}

/** The datatype and shape a request gives for one input. */
export interface DeclaredTensor {
  datatype: Datatype
  shape: readonly number[]
}

/** Checks an input's declared datatype and shape against the model's input; errors name `field`. */
export function checkShape(input: DeclaredTensor, field: string, info: TensorInfo): void {
  if (input.datatype !== info.datatype) {
    bad(`${field}.datatype: model input "${info.name}" expects ${info.datatype}, got ${input.datatype}`)
  }
  const expected = info.shape
  if (input.shape.length !== expected.length) {
    bad(
      `${field}.shape: model input "${info.name}" expects rank ${expected.length} ([${expected.join(',')}]), got [${input.shape.join(',')}]`,
    )
  }
  input.shape.forEach((dim, i) => {
    // A zero-sized dimension is legal in the protocol but no runtime here serves it (OpenVINO never settles
    // such a request), so it stops here, before any runtime sees it.
    if (dim === 0) bad(`${field}.shape[${i}]: dimensions must be at least 1, got 0`)
    const want = expected[i] as number
    if (want >= 0 && dim !== want) {
      bad(
        `${field}.shape[${i}]: model input "${info.name}" expects ${want}, got ${dim} (shape [${expected.join(',')}], -1 is any)`,
      )
    }
    // A bounded dimension (an IR interval such as 1..8); an upper end below 0 is OpenVINO's "no upper bound".
    const bound = info.bounds?.[i]
    if (bound && (dim < bound[0] || (bound[1] >= 0 && dim > bound[1]))) {
      bad(
        `${field}.shape[${i}]: model input "${info.name}" takes ${bound[0]}..${bound[1] >= 0 ? bound[1] : ''} here, got ${dim}`,
      )
    }
  })
}

/** Flattens `data` row-major, checking that nested arrays match `shape` exactly. */
function flatten(
  data: ArrayLike<unknown>,
  shape: readonly number[],
  field: string,
  count: number,
): ArrayLike<unknown> {
  // Flat form: the common case, checked without recursion.
  if (data.length === count && (count === 0 || !Array.isArray(data[0]))) return data
  // A flat array of the wrong length (its first element is no array): say so plainly.
  if (shape.length <= 1 || !Array.isArray(data[0])) {
    bad(`${field}: expected ${count} elements for shape [${shape.join(',')}], got ${data.length}`)
  }
  const out: unknown[] = []
  const walk = (node: unknown, depth: number, path: string) => {
    if (depth === shape.length) {
      if (Array.isArray(node)) bad(`${field}${path}: nested deeper than the shape [${shape.join(',')}]`)
      out.push(node)
      return
    }
    if (!Array.isArray(node)) bad(`${field}${path}: expected an array of ${shape[depth]} at depth ${depth}`)
    if (node.length !== shape[depth]) {
      bad(
        `${field}${path}: expected ${shape[depth]} elements at depth ${depth} for shape [${shape.join(',')}], got ${node.length}`,
      )
    }
    for (let i = 0; i < node.length; i++) walk(node[i], depth + 1, `${path}[${i}]`)
  }
  walk(data, 0, '')
  return out
}

function toBigInt(v: unknown, field: string, i: number, unsigned: boolean): bigint {
  let b: bigint
  if (typeof v === 'number' && Number.isSafeInteger(v)) b = BigInt(v)
  else if (typeof v === 'bigint') b = v
  else if (typeof v === 'string' && /^-?[0-9]{1,20}$/.test(v)) b = BigInt(v)
  else return bad(`${field}[${i}]: expected an integer (number or decimal string), got ${JSON.stringify(v)}`)
  if (unsigned ? b < 0n || b > UINT64_MAX : b < INT64_MIN || b > INT64_MAX) {
    bad(`${field}[${i}]: ${b} is out of range for ${unsigned ? 'UINT64' : 'INT64'}`)
  }
  return b
}

/** Numbers rounded into 16 bits per element (FP16, BF16). */
function sixteenBitFloats(
  values: ArrayLike<unknown>,
  field: string,
  toBits: (v: number) => number,
): Uint16Array {
  const out = new Uint16Array(values.length)
  for (let i = 0; i < values.length; i++) {
    const v = values[i]
    if (typeof v !== 'number') bad(`${field}[${i}]: expected a number, got ${JSON.stringify(v)}`)
    out[i] = toBits(v)
  }
  return out
}

/** BYTES elements as strings: JSON strings as they are, byte strings (gRPC) when they are UTF-8. */
function byteStrings(values: ArrayLike<unknown>, field: string): string[] {
  return Array.from(values, (v, i) => {
    if (typeof v === 'string') return withoutNul(v, `${field}[${i}]`)
    if (v instanceof Uint8Array) return utf8OrBad(v, `${field}[${i}]`)
    return bad(`${field}[${i}]: expected a string, got ${JSON.stringify(v)}`)
  })
}

// The runtimes take string tensors as JavaScript strings, so BYTES elements must be text that survives the
// trip: UTF-8 (other bytes would be replaced), and no NUL (onnxruntime-node ends a string at its first NUL:
// "\u0000nul" came back empty). Refused here with a 400 rather than changed on the way.
function utf8OrBad(element: Uint8Array, field: string): string {
  const text = utf8Text(element)
  if (text === null) bad(`${field}: BYTES element is not valid UTF-8, which this worker's runtimes need`)
  return withoutNul(text, field)
}

function withoutNul(text: string, field: string): string {
  if (text.includes('\u0000'))
    bad(`${field}: BYTES element holds a NUL character, which ONNX Runtime's string tensors cut off`)
  return text
}

/**
 * Converts flat elements to the typed array (or strings) of `datatype`, naming the first bad element. The
 * elements may be a Float64Array (JSON `data` read by json-tensor-parser.ts): every element is then a number
 * already, so floats convert in one native pass and the other types get the same checks as any element. A
 * Float32Array is the parser's data of an FP32 input, made for this tensor: it becomes the tensor as it is.
 */
function fromElements(values: ArrayLike<unknown>, datatype: Datatype, field: string): Tensor['data'] {
  const n = values.length
  switch (datatype) {
    case 'BYTES':
      return byteStrings(values, field)
    case 'FP32':
    case 'FP64': {
      if (values instanceof Float32Array && datatype === 'FP32') return values
      if (values instanceof Float64Array)
        return datatype === 'FP32' ? new Float32Array(values) : values.slice()
      const out = new TYPED_ARRAY_OF[datatype](n)
      for (let i = 0; i < n; i++) {
        const v = values[i]
        if (typeof v !== 'number') bad(`${field}[${i}]: expected a number, got ${JSON.stringify(v)}`)
        out[i] = v
      }
      return out
    }
    case 'FP16':
      return sixteenBitFloats(values, field, toHalfBits)
    case 'BF16':
      return sixteenBitFloats(values, field, toBfloat16Bits)
    case 'BOOL': {
      const out = new Uint8Array(n)
      for (let i = 0; i < n; i++) {
        const v = values[i]
        if (typeof v !== 'boolean') bad(`${field}[${i}]: expected true or false, got ${JSON.stringify(v)}`)
        out[i] = v ? 1 : 0
      }
      return out
    }
    case 'INT64':
    case 'UINT64': {
      const out = new TYPED_ARRAY_OF[datatype](n)
      for (let i = 0; i < n; i++) out[i] = toBigInt(values[i], field, i, datatype === 'UINT64')
      return out
    }
    default: {
      const [min, max] = INT_RANGE[datatype] as [number, number]
      const out = new TYPED_ARRAY_OF[datatype](n)
      for (let i = 0; i < n; i++) {
        const v = values[i]
        if (typeof v !== 'number' || !Number.isInteger(v)) {
          bad(`${field}[${i}]: expected an integer, got ${JSON.stringify(v)}`)
        }
        if (v < min || v > max) bad(`${field}[${i}]: ${v} is out of range for ${datatype} [${min}, ${max}]`)
        out[i] = v
      }
      return out
    }
  }
}

/** A tensor from its data and the datatype it holds. */
function tensorOf(datatype: Datatype, shape: readonly number[], data: Tensor['data']): Tensor {
  return datatype === 'BYTES'
    ? { datatype, shape: [...shape], data: data as string[] }
    : { datatype, shape: [...shape], data: data as TensorArray }
}

/**
 * A tensor from elements (JSON `data`, flat or nested; gRPC typed contents, flat), by `datatype` and `shape`,
 * every element checked. `field` names the data in errors (`inputs[0].data`).
 */
export function tensorFromElements(
  data: ArrayLike<unknown>,
  datatype: Datatype,
  shape: readonly number[],
  field: string,
): Tensor {
  const count = elementCount(shape)
  const flat = flatten(data, shape, field, count)
  if (flat.length !== count) {
    bad(`${field}: expected ${count} elements for shape [${shape.join(',')}], got ${flat.length}`)
  }
  return tensorOf(datatype, shape, fromElements(flat, datatype, field))
}

/**
 * A tensor from its raw bytes: little-endian elements, or length-prefixed elements for BYTES. Bytes that own
 * their ArrayBuffer (read straight from the socket, see http/infer-body-reader.ts) and sit at an aligned
 * offset are viewed in place; others are copied into a fresh, aligned typed array (a pooled or shared buffer
 * must not be kept or handed on). `field` names the bytes in errors.
 */
export function tensorFromRaw(
  bytes: Uint8Array,
  datatype: Datatype,
  shape: readonly number[],
  owned: boolean,
  field: string,
): Tensor {
  const count = elementCount(shape)
  if (datatype === 'BYTES') {
    let elements: Uint8Array[]
    try {
      elements = decodeBytesElements(bytes, count)
    } catch (error) {
      return bad(`${field}: BYTES shape [${shape.join(',')}]: ${(error as Error).message}`)
    }
    return { datatype, shape: [...shape], data: elements.map((e, i) => utf8OrBad(e, `${field}[${i}]`)) }
  }
  const want = count * elementBytes(datatype)
  if (bytes.length !== want) {
    bad(`${field}: ${datatype} shape [${shape.join(',')}] needs ${want} bytes, got ${bytes.length}`)
  }
  const Typed = TYPED_ARRAY_OF[datatype]
  let data: TensorArray
  if (owned && bytes.byteOffset % Typed.BYTES_PER_ELEMENT === 0) {
    data = new Typed(bytes.buffer as ArrayBuffer, bytes.byteOffset, count)
  } else {
    data = new Typed(count)
    new Uint8Array(data.buffer, data.byteOffset, data.byteLength).set(bytes)
  }
  // BOOL: any non-zero byte is true, as Triton reads it; the backends want exactly 0 or 1.
  if (datatype === 'BOOL') for (let i = 0; i < data.length; i++) if (data[i] !== 0) data[i] = 1
  return { datatype, shape: [...shape], data }
}

/** JSON elements of a tensor: numbers (INT64 as numbers, like Triton and OVMS), booleans, strings for BYTES. */
export function jsonElements(tensor: Tensor): Array<number | boolean | string> {
  if (tensor.datatype === 'BYTES') return [...tensor.data]
  const { data, datatype } = tensor
  const n = data.length
  const out = new Array<number | boolean>(n)
  if (datatype === 'BOOL') for (let i = 0; i < n; i++) out[i] = data[i] !== 0
  else if (datatype === 'FP16') for (let i = 0; i < n; i++) out[i] = fromHalfBits(data[i] as number)
  else if (datatype === 'BF16') for (let i = 0; i < n; i++) out[i] = fromBfloat16Bits(data[i] as number)
  else if (datatype === 'INT64' || datatype === 'UINT64') for (let i = 0; i < n; i++) out[i] = Number(data[i])
  else for (let i = 0; i < n; i++) out[i] = data[i] as number
  return out
}

/** A tensor's raw form: a view of its little-endian bytes, or its strings length-prefixed for BYTES. */
export function rawBytes(tensor: Tensor): Uint8Array {
  if (tensor.datatype === 'BYTES') return encodeBytesElements(tensor.data)
  const { data } = tensor
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
}

/** True for the datatypes whose elements are 16-bit floats, which gRPC carries only as raw contents. */
export function isSixteenBitFloat(datatype: Datatype): datatype is Extract<NumericDatatype, 'FP16' | 'BF16'> {
  return datatype === 'FP16' || datatype === 'BF16'
}
