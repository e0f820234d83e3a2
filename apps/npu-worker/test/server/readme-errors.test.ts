import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { WorkerErrorCode } from '@npu-fleet/protocol'
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
    expect(new Set(Object.values(WorkerErrorCode))).toEqual(new Set(rows.keys()))
    // Every constructor takes its message arguments first; the typed data after them is optional here.
    type AnyError = new (...args: unknown[]) => { code: string; statusCode?: number }
    const catalogue = Object.values(errors).map((E) => {
      const instance = new (E as AnyError)('x', ['y'])
      return [instance.code, instance.statusCode] as const
    })
    expect(new Map(catalogue)).toEqual(rows)
  })
})
