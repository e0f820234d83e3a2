import { execFileSync, spawnSync } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The interpreter CI installs numpy and onnx for (Debian's python3-numpy, python3-onnx); another one may be named. */
const PYTHON = process.env.NPU_WORKER_TEST_PYTHON || '/usr/bin/python3'
const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'reference', 'llama_reference.py')

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

if (pythonReferenceMissing) console.warn(`generation reference tests SKIPPED: ${pythonReferenceMissing}`)

/** Suffix for a test name that skips without the reference, so the skip says why. */
export const skipNote = pythonReferenceMissing ? ` (SKIPPED: ${pythonReferenceMissing})` : ''

/** Logits of each sequence at every position, [sequence][position][vocab], from reference/llama_reference.py. */
export function referenceLogits(
  model: string,
  config: string,
  sequences: readonly (readonly number[])[],
): number[][][] {
  const out = execFileSync(PYTHON, [SCRIPT], {
    input: JSON.stringify({ model, config, sequences }),
    maxBuffer: 1 << 30,
    encoding: 'utf8',
  })
  return (JSON.parse(out) as { logits: number[][][] }).logits
}
