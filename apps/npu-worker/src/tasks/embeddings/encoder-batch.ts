import type { TensorInfo } from '../../backends/backend.js'
import type { Tensor } from '../../backends/tensor.js'

/** Inputs a BERT-family encoder may declare; the pipeline fills each of them. */
export const ENCODER_INPUT_NAMES = ['input_ids', 'attention_mask', 'token_type_ids', 'position_ids'] as const

/** Why a model's inputs cannot be fed by the embeddings pipeline, or null when they can. */
export function encoderInputProblem(inputs: readonly TensorInfo[]): string | null {
  const known = new Set<string>(ENCODER_INPUT_NAMES)
  const names = inputs.map((i) => i.name)
  if (!names.includes('input_ids')) return `it has no input "input_ids" (inputs: ${names.join(', ')})`
  for (const input of inputs) {
    if (!known.has(input.name)) {
      return `input "${input.name}" is not one the pipeline fills (${ENCODER_INPUT_NAMES.join(', ')})`
    }
    if (input.datatype !== 'INT64' && input.datatype !== 'INT32') {
      return `input "${input.name}" is ${input.datatype}; INT64 or INT32 expected`
    }
    if (input.shape.length !== 2)
      return `input "${input.name}" has shape [${input.shape}]; [batch, sequence] expected`
  }
  return null
}

/**
 * Model inputs for `sequences` (token ids, each at most `length` long), padded with `padId` to `length`
 * columns: `attention_mask` 1 on real tokens and 0 on padding, `token_type_ids` 0 (one segment), `position_ids`
 * 0..length-1. Only the inputs the model declares are built, each in its declared integer type.
 */
export function buildEncoderBatch(
  sequences: readonly (readonly number[])[],
  length: number,
  padId: number,
  inputs: readonly TensorInfo[],
): Record<string, Tensor> {
  const rows = sequences.length
  const values = {
    input_ids: (row: number, col: number) => sequences[row]?.[col] ?? padId,
    attention_mask: (row: number, col: number) => (col < (sequences[row]?.length ?? 0) ? 1 : 0),
    token_type_ids: () => 0,
    position_ids: (_row: number, col: number) => col,
  }
  const tensors: Record<string, Tensor> = {}
  for (const input of inputs) {
    const value = values[input.name as keyof typeof values]
    if (!value) throw new Error(`input "${input.name}" is not one the pipeline fills`)
    const data = input.datatype === 'INT64' ? new BigInt64Array(rows * length) : new Int32Array(rows * length)
    for (let row = 0; row < rows; row++) {
      for (let col = 0; col < length; col++) {
        const v = value(row, col)
        if (data instanceof BigInt64Array) data[row * length + col] = BigInt(v)
        else data[row * length + col] = v
      }
    }
    tensors[input.name] = {
      datatype: input.datatype === 'INT64' ? 'INT64' : 'INT32',
      shape: [rows, length],
      data,
    }
  }
  return tensors
}
