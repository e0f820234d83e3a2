import { elementCount, type TensorArray, TYPED_ARRAY_OF } from '@npu-fleet/protocol'
import type { TensorInfo } from './backend.js'
import type { Tensor } from './tensor.js'

/**
 * Batch sizes a model accepts when every input has a static first dimension (the same for all inputs),
 * else null (dynamic batch, or no batch dimension at all).
 */
export function staticBatchSizes(inputs: readonly TensorInfo[]): number[] | null {
  const firstDims = new Set(inputs.map((input) => input.shape[0] ?? -1))
  if (inputs.length === 0 || firstDims.size !== 1) return null
  const [batch] = firstDims
  return batch !== undefined && batch > 0 ? [batch] : null
}

/** Rows `[start, start + count)` of a tensor along its first dimension, copied into a new buffer. */
export function sliceBatch(tensor: Tensor, start: number, count: number): Tensor {
  const rowSize = elementCount(tensor.shape.slice(1))
  const shape = [count, ...tensor.shape.slice(1)]
  const [from, to] = [start * rowSize, (start + count) * rowSize]
  return tensor.datatype === 'BYTES'
    ? { datatype: 'BYTES', shape, data: tensor.data.slice(from, to) }
    : { datatype: tensor.datatype, shape, data: tensor.data.slice(from, to) }
}

/** Concatenate tensors of one datatype along their first dimension. */
export function concatBatch(parts: readonly Tensor[]): Tensor {
  const [first] = parts
  if (!first) throw new Error('concatBatch needs at least one tensor')
  const rest = first.shape.slice(1)
  let rows = 0
  let length = 0
  for (const part of parts) {
    if (part.datatype !== first.datatype || part.shape.slice(1).join() !== rest.join()) {
      throw new Error(
        `cannot concatenate ${part.datatype}[${part.shape}] with ${first.datatype}[${first.shape}]`,
      )
    }
    rows += part.shape[0] ?? 0
    length += part.data.length
  }
  const shape = [rows, ...rest]
  if (first.datatype === 'BYTES') {
    return { datatype: 'BYTES', shape, data: parts.flatMap((part) => part.data as string[]) }
  }
  const data = new TYPED_ARRAY_OF[first.datatype](length) as TensorArray
  let offset = 0
  for (const part of parts) {
    // The element types match (same datatype), so set() copies without conversion.
    ;(data as Float32Array).set(part.data as Float32Array, offset)
    offset += part.data.length
  }
  return { datatype: first.datatype, shape, data }
}
