import type { Tensor } from '../../backends/tensor.js'
import { fromHalfBits } from '../../kserve/half-float.js'

/** How token vectors become one sentence vector (model.yaml `embeddings.pooling`). */
export type Pooling = 'mean' | 'cls'

/** The floating-point value at `index` of a float tensor (FP16 holds half bits). */
function reader(tensor: Tensor): (index: number) => number {
  const { data, datatype } = tensor
  if (datatype === 'FP32' || datatype === 'FP64') return (i) => data[i] as number
  if (datatype === 'FP16') return (i) => fromHalfBits(data[i] as number)
  throw new Error(`output is ${datatype}; a float tensor [batch, sequence, hidden] is expected`)
}

/**
 * Sentence vectors from the encoder's token vectors `hidden` [rows, sequence, dim]: `mean` averages the first
 * `lengths[r]` positions of row r (the positions whose attention mask is 1, as the batch puts real tokens
 * first), `cls` takes position 0. Rows past `lengths.length` (batch filler) are ignored. With `normalize`,
 * each vector is divided by its L2 norm (at least 1e-12, as torch's F.normalize). Sums run in float64.
 */
export function poolSentences(
  hidden: Tensor,
  lengths: readonly number[],
  pooling: Pooling,
  normalize: boolean,
): number[][] {
  const [rows, sequence, dim] = hidden.shape
  if (hidden.shape.length !== 3 || rows === undefined || sequence === undefined || dim === undefined) {
    throw new Error(`output has shape [${hidden.shape}]; [batch, sequence, hidden] is expected`)
  }
  if (rows < lengths.length) throw new Error(`output has ${rows} rows for ${lengths.length} texts`)
  const at = reader(hidden)
  return lengths.map((length, row) => {
    if (length < 1 || length > sequence) {
      throw new Error(`row ${row} has ${length} tokens; the output has ${sequence} positions`)
    }
    const vector = new Array<number>(dim).fill(0)
    const base = row * sequence * dim
    const positions = pooling === 'cls' ? 1 : length
    for (let pos = 0; pos < positions; pos++) {
      const offset = base + pos * dim
      for (let d = 0; d < dim; d++) vector[d] = (vector[d] as number) + at(offset + d)
    }
    let norm = 0
    for (let d = 0; d < dim; d++) {
      vector[d] = (vector[d] as number) / positions
      norm += (vector[d] as number) ** 2
    }
    if (normalize) {
      const scale = 1 / Math.max(Math.sqrt(norm), 1e-12)
      for (let d = 0; d < dim; d++) vector[d] = (vector[d] as number) * scale
    }
    for (const v of vector) {
      // A NaN or infinite vector would be made-up output: fail the request instead.
      if (!Number.isFinite(v)) throw new Error(`row ${row} pooled to a non-finite value`)
    }
    return vector
  })
}
