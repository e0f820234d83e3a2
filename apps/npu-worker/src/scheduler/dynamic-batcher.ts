import { TYPED_ARRAY_OF } from '@npu-fleet/protocol'
import type { Tensor } from '../backends/tensor.js'
import { concatBatch, sliceBatch } from '../backends/tensor-batching.js'

/** What the batcher needs to know of a queued request. */
export interface Batchable {
  inputs: Record<string, Tensor>
  outputNames: readonly string[] | undefined
  /** Rows along the batch dimension, or 0 when the request cannot share an inference. */
  rows: number
  /** Requests with equal keys can be merged: same input names, datatypes, per-row shapes and outputs. */
  key: string
}

/**
 * Rows and merge key of a request: every input must have the same first dimension (the batch), else the
 * request runs alone (rows 0). Computed once, at enqueue.
 */
export function batchShape(
  inputs: Record<string, Tensor>,
  outputNames: readonly string[] | undefined,
): { rows: number; key: string } {
  let rows = -1
  const parts: string[] = []
  for (const name of Object.keys(inputs).sort()) {
    const tensor = inputs[name] as Tensor
    const first = tensor.shape[0]
    if (first === undefined || (rows !== -1 && first !== rows)) return { rows: 0, key: '' }
    rows = first
    parts.push(`${name}:${tensor.datatype}[${tensor.shape.slice(1).join(',')}]`)
  }
  if (rows <= 0) return { rows: 0, key: '' }
  parts.push(`->${outputNames ? outputNames.join(',') : '*'}`)
  return { rows, key: parts.join(';') }
}

/**
 * Picks the requests of the next merged inference: the oldest request, then every later one with the same
 * key that still fits in `maxRows`, in arrival order (requests with other keys keep their place).
 * Returns indexes into `waiting` and the row total. A request that cannot share runs alone.
 */
export function selectBatch(
  waiting: readonly Batchable[],
  maxRows: number,
): { indexes: number[]; rows: number } {
  const head = waiting[0]
  if (!head) return { indexes: [], rows: 0 }
  if (head.rows === 0 || head.rows >= maxRows) return { indexes: [0], rows: head.rows }
  const indexes = [0]
  let rows = head.rows
  for (let i = 1; i < waiting.length && rows < maxRows; i++) {
    const job = waiting[i] as Batchable
    if (job.rows > 0 && job.key === head.key && rows + job.rows <= maxRows) {
      indexes.push(i)
      rows += job.rows
    }
  }
  return { indexes, rows }
}

/** Zero rows appended so a batch fills a compiled static size; the padding's outputs are dropped. */
function padRows(tensor: Tensor, rows: number): Tensor {
  const have = tensor.shape[0] ?? 0
  if (have >= rows) return tensor
  const perRow = tensor.data.length / Math.max(1, have)
  const shape = [rows, ...tensor.shape.slice(1)]
  if (tensor.datatype === 'BYTES') {
    const data = [...tensor.data, ...new Array<string>((rows - have) * perRow).fill('')]
    return { datatype: 'BYTES', shape, data }
  }
  const data = new TYPED_ARRAY_OF[tensor.datatype](rows * perRow)
  ;(data as Float32Array).set(tensor.data as Float32Array)
  return { datatype: tensor.datatype, shape, data }
}

/** One inference's inputs for several requests: each input concatenated along the batch dimension. */
export function mergeInputs(jobs: readonly Batchable[], padTo: number | null): Record<string, Tensor> {
  const first = jobs[0]
  if (!first) throw new Error('mergeInputs needs at least one request')
  const merged: Record<string, Tensor> = {}
  for (const name of Object.keys(first.inputs)) {
    const tensor =
      jobs.length === 1
        ? (first.inputs[name] as Tensor)
        : concatBatch(jobs.map((j) => j.inputs[name] as Tensor))
    merged[name] = padTo === null ? tensor : padRows(tensor, padTo)
  }
  return merged
}

/**
 * Splits a merged inference's outputs back per request, in order. Every output must have the batch as its
 * first dimension with exactly `totalRows` rows (padding included); otherwise the model does not batch
 * along dimension 0 and this throws, so the caller can run the requests one by one instead.
 */
export function splitOutputs(
  outputs: Record<string, Tensor>,
  rowsPerJob: readonly number[],
  totalRows: number,
): Array<Record<string, Tensor>> {
  for (const [name, tensor] of Object.entries(outputs)) {
    if (tensor.shape[0] !== totalRows) {
      throw new Error(
        `output ${name} has shape [${tensor.shape}], not ${totalRows} rows: the model does not batch along dimension 0`,
      )
    }
  }
  const parts: Array<Record<string, Tensor>> = []
  let start = 0
  for (const rows of rowsPerJob) {
    const part: Record<string, Tensor> = {}
    for (const [name, tensor] of Object.entries(outputs)) part[name] = sliceBatch(tensor, start, rows)
    parts.push(part)
    start += rows
  }
  return parts
}
