import type { Datatype } from './kserve.js'

// The one table of what each KServe datatype is in memory and on the wire. The worker's codecs and backends
// and the pool's binary transport read it; nothing else spells it out.

/** The datatypes with fixed-size elements: every datatype except BYTES. */
export type NumericDatatype = Exclude<Datatype, 'BYTES'>

/**
 * Typed array holding one numeric tensor. BOOL is a Uint8Array of 0/1; FP16 and BF16 are Uint16Arrays holding
 * the raw 16 bits (IEEE half, bfloat16), as the binary extension carries them.
 */
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

/** Constructor of the typed array that stores each numeric datatype (its `BYTES_PER_ELEMENT` is the wire size). */
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
  BF16: Uint16Array,
  FP32: Float32Array,
  FP64: Float64Array,
} as const satisfies Record<NumericDatatype, unknown>

/** True for every datatype but BYTES. */
export function isNumericDatatype(datatype: Datatype): datatype is NumericDatatype {
  return datatype !== 'BYTES'
}

/** Bytes of one element of a numeric datatype in the binary tensor extension (BOOL is one byte). */
export function elementBytes(datatype: NumericDatatype): number {
  return TYPED_ARRAY_OF[datatype].BYTES_PER_ELEMENT
}

/** Number of elements a shape holds. */
export function elementCount(shape: readonly number[]): number {
  let n = 1
  for (const d of shape) n *= d
  return n
}
