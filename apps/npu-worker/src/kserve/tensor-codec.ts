import type { RequestInput, ResponseOutput, TensorData } from '@npu-fleet/protocol'
import type { TensorInfo } from '../backends/backend.js'
import { elementCount, type Tensor, type TensorArray, TYPED_ARRAY_OF } from '../backends/tensor.js'
import { ErrBadInferRequest } from '../errors.js'
import { fromHalfBits, toHalfBits } from './half-float.js'

type NumericType = Tensor['datatype']

/** Integer ranges for the range check of integer datatypes. */
const INT_RANGE: Partial<Record<NumericType, [number, number]>> = {
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

/** Validates the shape of one request input against the model's input metadata. */
function checkShape(input: RequestInput, field: string, info: TensorInfo): void {
  if (input.datatype === 'BYTES') bad(`${field}.datatype: BYTES tensors are not supported by this worker`)
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
function flatten(data: TensorData, shape: readonly number[], field: string, count: number): unknown[] {
  // Flat form: the common case, checked without recursion.
  if (data.length === count && (count === 0 || !Array.isArray(data[0]))) return data
  // A flat array of the wrong length (its first element is no array): say so plainly.
  if (shape.length <= 1 || !Array.isArray(data[0])) {
    bad(`${field}.data: expected ${count} elements for shape [${shape.join(',')}], got ${data.length}`)
  }
  const out: unknown[] = []
  const walk = (node: unknown, depth: number, path: string) => {
    if (depth === shape.length) {
      if (Array.isArray(node)) bad(`${field}.data${path}: nested deeper than the shape [${shape.join(',')}]`)
      out.push(node)
      return
    }
    if (!Array.isArray(node))
      bad(`${field}.data${path}: expected an array of ${shape[depth]} at depth ${depth}`)
    if (node.length !== shape[depth]) {
      bad(
        `${field}.data${path}: expected ${shape[depth]} elements at depth ${depth} for shape [${shape.join(',')}], got ${node.length}`,
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
  else if (typeof v === 'string' && /^-?[0-9]{1,20}$/.test(v)) b = BigInt(v)
  else
    return bad(
      `${field}.data[${i}]: expected an integer (number or decimal string), got ${JSON.stringify(v)}`,
    )
  if (unsigned ? b < 0n || b > UINT64_MAX : b < INT64_MIN || b > INT64_MAX) {
    bad(`${field}.data[${i}]: ${b} is out of range for ${unsigned ? 'UINT64' : 'INT64'}`)
  }
  return b
}

/** Converts flat JSON elements to the typed array of `datatype`, naming the first bad element. */
function toTypedArray(values: unknown[], datatype: NumericType, field: string): TensorArray {
  const n = values.length
  switch (datatype) {
    case 'FP32':
    case 'FP64': {
      const out = new TYPED_ARRAY_OF[datatype](n)
      for (let i = 0; i < n; i++) {
        const v = values[i]
        if (typeof v !== 'number') bad(`${field}.data[${i}]: expected a number, got ${JSON.stringify(v)}`)
        out[i] = v
      }
      return out
    }
    case 'FP16': {
      const out = new Uint16Array(n)
      for (let i = 0; i < n; i++) {
        const v = values[i]
        if (typeof v !== 'number') bad(`${field}.data[${i}]: expected a number, got ${JSON.stringify(v)}`)
        out[i] = toHalfBits(v)
      }
      return out
    }
    case 'BOOL': {
      const out = new Uint8Array(n)
      for (let i = 0; i < n; i++) {
        const v = values[i]
        if (typeof v !== 'boolean')
          bad(`${field}.data[${i}]: expected true or false, got ${JSON.stringify(v)}`)
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
          bad(`${field}.data[${i}]: expected an integer, got ${JSON.stringify(v)}`)
        }
        if (v < min || v > max)
          bad(`${field}.data[${i}]: ${v} is out of range for ${datatype} [${min}, ${max}]`)
        out[i] = v
      }
      return out
    }
  }
}

/**
 * The typed array of one JSON input, by the input's own datatype and shape (flat or nested `data`, every
 * element checked). Used where the model is not at hand (the JSON decode thread); decodeInputs then checks
 * the input against the model. Throws NPU_ERR_BAD_INFER_REQUEST naming the field.
 */
export function decodeJsonData(input: RequestInput, field: string): TensorArray {
  if (input.datatype === 'BYTES') bad(`${field}.datatype: BYTES tensors are not supported by this worker`)
  if (input.data === undefined) bad(`${field}.data: missing (or give parameters.binary_data_size)`)
  const count = elementCount(input.shape)
  const flat = flatten(input.data, input.shape, field, count)
  if (flat.length !== count) {
    bad(`${field}.data: expected ${count} elements for shape [${input.shape.join(',')}], got ${flat.length}`)
  }
  return toTypedArray(flat, input.datatype, field)
}

/** Bytes per element of each datatype in the binary tensor extension (BOOL is one byte). */
export const ELEMENT_BYTES: Record<NumericType, number> = {
  BOOL: 1,
  UINT8: 1,
  INT8: 1,
  UINT16: 2,
  INT16: 2,
  FP16: 2,
  UINT32: 4,
  INT32: 4,
  FP32: 4,
  UINT64: 8,
  INT64: 8,
  FP64: 8,
}

/** `parameters.binary_data_size` of an input, validated; undefined when the input is JSON. */
function binarySize(input: RequestInput, field: string): number | undefined {
  const size = input.parameters?.binary_data_size
  if (size === undefined || size === null) return undefined
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    bad(`${field}.parameters.binary_data_size: expected a byte count, got ${JSON.stringify(size)}`)
  }
  return size
}

/**
 * A tensor from its little-endian bytes (the binary extension). Bytes that own their ArrayBuffer (read
 * straight from the socket, see binary-body.ts) and sit at an aligned offset are viewed in place; others are
 * copied into a fresh, aligned typed array (a pooled or shared buffer must not be kept or handed on).
 */
function fromBytes(bytes: Uint8Array, datatype: NumericType, shape: number[], owned: boolean): Tensor {
  const count = elementCount(shape)
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
  return { datatype, shape, data }
}

/**
 * Decodes the inputs of a KServe v2 infer request into tensors, validated against the model's inputs:
 * every input present once, known names, datatype, shape and element count. Inputs with
 * `parameters.binary_data_size` take their bytes, in order, from `binary` (the binary tensor extension);
 * the binary part must be used up exactly. Errors name the field.
 */
export function decodeInputs(
  inputs: readonly RequestInput[],
  model: readonly TensorInfo[],
  binary: Uint8Array | null = null,
  /** True when `binary` owns its ArrayBuffer: tensors may then view it instead of copying. */
  binaryOwned = false,
): Record<string, Tensor> {
  const byName = new Map(model.map((info) => [info.name, info]))
  const tensors: Record<string, Tensor> = {}
  let offset = 0
  inputs.forEach((input, index) => {
    const field = `inputs[${index}]`
    const info = byName.get(input.name)
    if (!info)
      bad(`${field}.name: unknown input "${input.name}"; model inputs: ${[...byName.keys()].join(', ')}`)
    if (input.name in tensors) bad(`${field}.name: input "${input.name}" given twice`)
    checkShape(input, field, info)
    const count = elementCount(input.shape)
    const size = binarySize(input, field)
    if (size !== undefined) {
      if (input.data !== undefined) bad(`${field}.data: must be left out when binary_data_size is given`)
      if (binary === null) {
        bad(
          `${field}.parameters.binary_data_size: the request has no binary part (Inference-Header-Content-Length)`,
        )
      }
      const want = count * ELEMENT_BYTES[info.datatype]
      if (size !== want) {
        bad(
          `${field}.parameters.binary_data_size: ${info.datatype} shape [${input.shape.join(',')}] needs ${want} bytes, got ${size}`,
        )
      }
      if (offset + size > binary.length) {
        bad(
          `${field}.parameters.binary_data_size: ${size} bytes, but only ${binary.length - offset} binary bytes are left`,
        )
      }
      tensors[input.name] = fromBytes(
        binary.subarray(offset, offset + size),
        info.datatype,
        [...input.shape],
        binaryOwned,
      )
      offset += size
      return
    }
    if (input.data === undefined) bad(`${field}.data: missing (or give parameters.binary_data_size)`)
    // Already decoded off the main thread (json-codec-thread.ts) by the input's own datatype and shape,
    // both just checked against the model.
    if (ArrayBuffer.isView(input.data)) {
      tensors[input.name] = {
        datatype: info.datatype,
        shape: [...input.shape],
        data: input.data as unknown as TensorArray,
      }
      return
    }
    const flat = flatten(input.data, input.shape, field, count)
    if (flat.length !== count) {
      bad(
        `${field}.data: expected ${count} elements for shape [${input.shape.join(',')}], got ${flat.length}`,
      )
    }
    tensors[input.name] = {
      datatype: info.datatype,
      shape: [...input.shape],
      data: toTypedArray(flat, info.datatype, field),
    }
  })
  for (const info of model) {
    if (!(info.name in tensors)) bad(`inputs: model input "${info.name}" is missing`)
  }
  if (binary !== null && offset !== binary.length) {
    bad(`inputs: the binary part has ${binary.length - offset} bytes that no input's binary_data_size claims`)
  }
  return tensors
}

/** JSON elements of a tensor: numbers (INT64 as numbers, like Triton and OVMS), booleans for BOOL. */
function toJsonData(tensor: Tensor): Array<number | boolean> {
  const { data, datatype } = tensor
  const n = data.length
  const out = new Array<number | boolean>(n)
  if (datatype === 'BOOL') for (let i = 0; i < n; i++) out[i] = data[i] !== 0
  else if (datatype === 'FP16') for (let i = 0; i < n; i++) out[i] = fromHalfBits(data[i] as number)
  else if (datatype === 'INT64' || datatype === 'UINT64') for (let i = 0; i < n; i++) out[i] = Number(data[i])
  else for (let i = 0; i < n; i++) out[i] = data[i] as number
  return out
}

/** Encodes one output tensor as a KServe v2 JSON output (flat, row-major). */
export function encodeOutput(name: string, tensor: Tensor): ResponseOutput {
  return { name, datatype: tensor.datatype, shape: tensor.shape, data: toJsonData(tensor) }
}

/** Encodes one output tensor for the binary extension: metadata with `binary_data_size`, and its bytes. */
export function encodeOutputBinary(
  name: string,
  tensor: Tensor,
): { output: ResponseOutput; bytes: Uint8Array } {
  const { data } = tensor
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
  return {
    output: {
      name,
      datatype: tensor.datatype,
      shape: tensor.shape,
      parameters: { binary_data_size: bytes.length },
    },
    bytes,
  }
}
