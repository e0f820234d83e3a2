import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import * as errors from '../../src/errors.js'
import { WORKER_ROOT } from '../helpers/worker-process.js'

// errors.ts says "documented as a table in README.md: keep both in step"; this keeps them in step.
describe('README error table', () => {
  const readme = readFileSync(join(WORKER_ROOT, 'README.md'), 'utf8')
  const rows = new Map(
    [...readme.matchAll(/^\| `(NPU_ERR_[A-Z0-9_]+)`\s*\| \(?(\d{3})\)?\s*\|/gm)].map((m) => [
      m[1],
      Number(m[2]),
    ]),
  )

  it('lists every error of the catalogue with its HTTP status, and nothing else', () => {
    const catalogue = Object.values(errors).map((E) => {
      const instance = new E('x', 'y')
      return [instance.code, instance.statusCode] as const
    })
    expect(new Map(catalogue)).toEqual(rows)
  })
})
