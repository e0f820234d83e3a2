import type { NumericDatatype, TensorArray } from '@npu-fleet/protocol'

// The datatype table (typed array and byte size of each datatype) lives in @npu-fleet/protocol, datatypes.ts.

/** A dense row-major tensor of fixed-size elements (every datatype but BYTES). */
export interface NumericTensor {
  datatype: NumericDatatype
  shape: number[]
  data: TensorArray
}

/**
 * A BYTES tensor: one string per element, row-major. Strings, because both runtimes take string tensors as
 * JavaScript strings (onnxruntime-node and openvino-node convert them to and from UTF-8), so bytes that are not
 * UTF-8 are refused at the codec with a 400 instead of being changed on the way.
 */
export interface BytesTensor {
  datatype: 'BYTES'
  shape: number[]
  data: string[]
}

/** A tensor as the backends consume and produce it. */
export type Tensor = NumericTensor | BytesTensor

/** The tensor's data when it is numeric; throws for BYTES (for code that only ever runs numeric models). */
export function numericData(tensor: Tensor, what: string): TensorArray {
  if (tensor.datatype === 'BYTES') throw new Error(`${what}: expected a numeric tensor, got BYTES`)
  return tensor.data
}
