import { execFileSync, spawnSync } from 'node:child_process'

// The independent numpy references the model tests compare with (tests/**/reference/*.py), run with the
// interpreter CI installs numpy and onnx for (Debian's python3-numpy, python3-onnx; another may be named).

/** The interpreter: `NPU_WORKER_TEST_PYTHON`, else Debian's. */
export const PYTHON = process.env.NPU_WORKER_TEST_PYTHON || '/usr/bin/python3'

/** Why the Python references cannot run here, or null when they can. */
export const pythonReferenceMissing: string | null = (() => {
  const probe = spawnSync(PYTHON, ['-c', 'import numpy, onnx'], { encoding: 'utf8' })
  if (probe.error)
    return `${PYTHON} cannot run (${probe.error.message}); install python3 with scripts/install-system-deps.sh`
  if (probe.status !== 0) {
    return `${PYTHON} lacks numpy/onnx (${probe.stderr.trim().split('\n').at(-1)}); install them with scripts/install-system-deps.sh`
  }
  return null
})()

/** Suffix for a test name that skips without the reference, so the skip says why. */
export const skipNote = pythonReferenceMissing ? ` (SKIPPED: ${pythonReferenceMissing})` : ''

/** Warns once per suite that its reference tests are skipped, and why. */
export function warnIfReferenceMissing(suite: string): void {
  if (pythonReferenceMissing) console.warn(`${suite} reference tests SKIPPED: ${pythonReferenceMissing}`)
}

/** Runs `script` with `request` as JSON on stdin; returns its JSON answer from stdout. */
export function runPythonReference<T>(script: string, request: unknown): T {
  const out = execFileSync(PYTHON, [script], {
    input: JSON.stringify(request),
    maxBuffer: 1 << 30,
    encoding: 'utf8',
  })
  return JSON.parse(out) as T
}
