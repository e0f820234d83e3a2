import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { TINY_BERT_DIMS, TINY_BERT_LAYER_NORM_EPS } from '../../../src/models/tiny-bert-model.js'
import { runPythonReference, warnIfReferenceMissing } from '../../helpers/python-reference.js'

export { pythonReferenceMissing, skipNote } from '../../helpers/python-reference.js'

const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'reference', 'embed_reference.py')
warnIfReferenceMissing('embeddings')

/** One request to reference/embed_reference.py. */
export interface ReferenceRequest {
  vocab: string
  /** The .onnx file; omit for token ids only. */
  model?: string
  texts: readonly string[]
  prefix?: string
  sequence_length: number
  pooling?: 'mean' | 'cls'
  normalize?: boolean
  /** Also return every text's token vectors. */
  hidden?: boolean
}

/** The reference's answer. */
export interface ReferenceAnswer {
  ids: number[][]
  embeddings: number[][] | null
  hidden: number[][][] | null
}

/** Runs the Python reference (tokenizer, and the numpy encoder when `model` is given). */
export function runReference(request: ReferenceRequest): ReferenceAnswer {
  const body = {
    pooling: 'mean',
    normalize: true,
    prefix: '',
    model: null,
    heads: TINY_BERT_DIMS.heads,
    eps: TINY_BERT_LAYER_NORM_EPS,
    ...request,
  }
  return runPythonReference<ReferenceAnswer>(SCRIPT, body)
}

/** Largest absolute difference between two equally long vectors (fails loudly on a length mismatch). */
export function maxAbsDiff(a: readonly number[], b: readonly number[]): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`)
  let max = 0
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs((a[i] as number) - (b[i] as number)))
  return max
}
