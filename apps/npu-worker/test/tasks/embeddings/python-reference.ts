import { execFileSync, spawnSync } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { TINY_BERT_DIMS, TINY_BERT_LAYER_NORM_EPS } from '../../../src/models/tiny-bert-model.js'

/** The interpreter CI installs numpy and onnx for (Debian's python3-numpy, python3-onnx); another one may be named. */
const PYTHON = process.env.NPU_WORKER_TEST_PYTHON || '/usr/bin/python3'
const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'reference', 'embed_reference.py')

/** Why the Python reference cannot run here, or null when it can. */
export const pythonReferenceMissing: string | null = (() => {
  const probe = spawnSync(PYTHON, ['-c', 'import numpy, onnx'], { encoding: 'utf8' })
  if (probe.error)
    return `${PYTHON} cannot run (${probe.error.message}); install python3 with scripts/install-system-deps.sh`
  if (probe.status !== 0) {
    return `${PYTHON} lacks numpy/onnx (${probe.stderr.trim().split('\n').at(-1)}); install them with scripts/install-system-deps.sh`
  }
  return null
})()

if (pythonReferenceMissing) {
  console.warn(`embeddings reference tests SKIPPED: ${pythonReferenceMissing}`)
}

/** Suffix for a test name that skips without the reference, so the skip says why. */
export const skipNote = pythonReferenceMissing ? ` (SKIPPED: ${pythonReferenceMissing})` : ''

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
  const out = execFileSync(PYTHON, [SCRIPT], {
    input: JSON.stringify(body),
    maxBuffer: 1 << 30,
    encoding: 'utf8',
  })
  return JSON.parse(out) as ReferenceAnswer
}

/** Largest absolute difference between two equally long vectors (fails loudly on a length mismatch). */
export function maxAbsDiff(a: readonly number[], b: readonly number[]): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`)
  let max = 0
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs((a[i] as number) - (b[i] as number)))
  return max
}
