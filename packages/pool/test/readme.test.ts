import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { LoadBalancingSchema, WorkerEntrySchema } from '../src/config/config-schema.js'
import { PoolErrorCode } from '../src/errors.js'

// The README's tables are the operator's reference: they must list exactly what the code has.

const readme = readFileSync(join(dirname(fileURLToPath(import.meta.url)), '..', 'README.md'), 'utf8')

/** First-column backticked names of the table that follows `heading`. */
function tableKeys(heading: string): string[] {
  const start = readme.indexOf(heading)
  expect(start, `README section ${heading}`).toBeGreaterThanOrEqual(0)
  const lines = readme.slice(start).split('\n').slice(1)
  const table = lines.slice(lines.findIndex((l) => l.startsWith('|')))
  const rows = table
    .slice(
      0,
      table.findIndex((l) => !l.startsWith('|')),
    )
    .slice(2)
  return rows.flatMap((row) =>
    [...(row.split('|')[1] ?? '').matchAll(/`([^`]+)`/g)].map((m) => m[1] as string),
  )
}

describe('README', () => {
  it('lists every POOL_ERR_* code, and no other', () => {
    expect(tableKeys('## Errors').sort()).toEqual(Object.values(PoolErrorCode).sort())
  })

  it('documents every load_balancing key and every worker key', () => {
    expect(tableKeys('### `load_balancing` keys').sort()).toEqual(
      Object.keys(LoadBalancingSchema.shape).sort(),
    )
    expect(tableKeys('### Worker keys').sort()).toEqual(Object.keys(WorkerEntrySchema.shape).sort())
  })
})
