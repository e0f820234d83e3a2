import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { runPythonReference, warnIfReferenceMissing } from '../helpers/python-reference.js'

export { pythonReferenceMissing, skipNote } from '../helpers/python-reference.js'

const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'reference', 'llama_reference.py')
warnIfReferenceMissing('generation')

/** Logits of each sequence at every position, [sequence][position][vocab], from reference/llama_reference.py. */
export function referenceLogits(
  model: string,
  config: string,
  sequences: readonly (readonly number[])[],
): number[][][] {
  return runPythonReference<{ logits: number[][][] }>(SCRIPT, { model, config, sequences }).logits
}
