import type { Datatype } from '@npu-fleet/protocol'

/** Typed array backing one tensor. BOOL is Uint8Array (0/1); FP16 is Uint16Array holding IEEE half bits. */
export type TensorArray =
  | Float32Array
  | Float64Array
  | Int8Array
  | Int16Array
  | Int32Array
  | BigInt64Array
  | Uint8Array
  | Uint16Array
  | Uint32Array
  | BigUint64Array

/** A dense row-major tensor as the backends consume and produce it. */
export interface Tensor {
  datatype: Exclude<Datatype, 'BYTES'>
  shape: number[]
  data: TensorArray
}

/** Constructor of the typed array that stores each datatype. */
export const TYPED_ARRAY_OF = {
  BOOL: Uint8Array,
  UINT8: Uint8Array,
  UINT16: Uint16Array,
  UINT32: Uint32Array,
  UINT64: BigUint64Array,
  INT8: Int8Array,
  INT16: Int16Array,
  INT32: Int32Array,
  INT64: BigInt64Array,
  FP16: Uint16Array,
  FP32: Float32Array,
  FP64: Float64Array,
} as const satisfies Record<Tensor['datatype'], unknown>

/** Number of elements a shape holds. */
export function elementCount(shape: readonly number[]): number {
  let n = 1
  for (const d of shape) n *= d
  return n
}
