import type ort from 'onnxruntime-node'
import type { SupportedTypedArray } from 'openvino-node'
import type { OvElement, OvTensor } from '../backends/openvino-runtime.js'
import { fromHalfBits, toHalfBits } from '../kserve/half-float.js'

// Tensors of the fake openvino-node, and the element type tables it shares with its model and requests.
// Mirrored from src/bindings/js/node: helper.cpp get_supported_types (the element types the addon creates
// and reads back), tensor_impl.cpp / helper.cpp cast_to_tensor (the 2026 size rule), tensor.cpp get_data.

/** Element types of ONNX Runtime tensors, as OpenVINO names them (`ov::element::Type::to_string()`). */
export const ELEMENT_OF_ORT: Record<string, string> = {
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
/** ONNX Runtime tensor type of each OpenVINO element type. */
export const ORT_OF_ELEMENT = Object.fromEntries(
  Object.entries(ELEMENT_OF_ORT).map(([o, e]) => [e, o]),
) as Record<string, ort.Tensor.Type>

/** Bytes per element of the types the addon supports (helper.cpp get_supported_types, minus `string`). */
export const BYTES_OF_ELEMENT: Readonly<Record<OvElement, number>> = {
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

/** The typed array of each supported element type. */
export const ARRAY_OF_ELEMENT: Readonly<Record<OvElement, new (length: number) => SupportedTypedArray>> = {
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

/** True for the element types the addon creates tensors of and reads back. */
export function isSupportedElement(type: string): type is OvElement {
  return type in BYTES_OF_ELEMENT
}

/** Number of elements of a static shape. */
export function count(shape: readonly number[]): number {
  return shape.reduce((n, d) => n * d, 1)
}

/** Storage of `f16` (half bits) and `boolean` (one byte, 0/1) values, as ONNX Runtime holds them. */
type AnyArray = SupportedTypedArray | Uint16Array | Uint8Array

/**
 * Converts element values as OpenVINO's Convert does at a PrePostProcessor boundary: f32 <-> f16 (rounded to
 * nearest), u8 <-> boolean (non-zero is true), and between plain numeric types.
 */
export function convertElements(data: AnyArray, from: string, to: string, length: number): AnyArray {
  if (from === to) return data
  const read: (i: number) => number =
    from === 'f16'
      ? (i) => fromHalfBits(data[i] as number)
      : data instanceof BigInt64Array || data instanceof BigUint64Array
        ? (i) => Number(data[i])
        : (i) => data[i] as number
  if (to === 'f16') return Uint16Array.from({ length }, (_, i) => toHalfBits(read(i)))
  if (to === 'boolean') return Uint8Array.from({ length }, (_, i) => (read(i) !== 0 ? 1 : 0))
  const ArrayOf = ARRAY_OF_ELEMENT[to as OvElement]
  if (!ArrayOf) throw new Error(`Cannot convert ${from} to ${to}`)
  const out = new ArrayOf(length)
  const big = out instanceof BigInt64Array || out instanceof BigUint64Array
  for (let i = 0; i < length; i++) {
    const v = read(i)
    ;(out as Float64Array)[i] = (big ? BigInt(Math.trunc(v)) : v) as number
  }
  return out
}

/**
 * `new ov.Tensor(type, shape, typedArray)`: a zero-copy view of the typed array's memory (the tensor keeps the
 * array alive). The 2026 rule (helper.cpp cast_to_tensor, tensor_impl.cpp, openvinotoolkit/openvino#35668):
 * the type must be one the addon supports, `byteOffset` must be 0, and shape x element size must equal the
 * array's byte length; this fake also demands the whole ArrayBuffer (the older rule compared with the
 * buffer's length), so code that passes here passes on both. The typed array's own type is not checked.
 */
export class FakeTensor implements OvTensor {
  readonly #element: OvElement
  readonly #shape: number[]
  readonly data: SupportedTypedArray

  constructor(type: OvElement, shape: number[], data: SupportedTypedArray) {
    if (!isSupportedElement(type)) throw new Error('Cannot create ov::element::Type')
    if (!ArrayBuffer.isView(data)) throw new Error('Third argument of a tensor must be TypedArray.')
    if (data.byteOffset !== 0) {
      throw new Error('TypedArray.byteOffset must be zero for zero-copy tensor construction.')
    }
    const bytes = count(shape) * BYTES_OF_ELEMENT[type]
    if (bytes !== data.byteLength || bytes !== data.buffer.byteLength) {
      throw new Error('Memory allocated using shape and element::type mismatch TypedArray byte length.')
    }
    this.#element = type
    this.#shape = [...shape]
    this.data = data
  }

  /** tensor.cpp get_data: a copy of the tensor's memory in a fresh typed array. */
  getData(): SupportedTypedArray {
    const copy = new ARRAY_OF_ELEMENT[this.#element](this.data.length)
    ;(copy as Float32Array).set(this.data as Float32Array)
    return copy
  }
  getShape(): number[] {
    return [...this.#shape]
  }
  getElementType(): string {
    return this.#element
  }
}

/** A request tensor of a type the addon cannot hand to JavaScript (f16, boolean): type and shape only. */
export class FakeOpaqueTensor implements OvTensor {
  constructor(
    readonly element: string,
    readonly shape: number[],
  ) {}
  /** tensor.cpp get_data, default branch. */
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
