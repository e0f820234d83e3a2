import type { z } from 'zod'

/** `['workers', 1, 'priority']` → `workers[1].priority` (the path an operator can find in the file). */
export function formatPath(path: readonly PropertyKey[], prefix = ''): string {
  let out = prefix
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`
    else out += out === '' ? String(segment) : `.${String(segment)}`
  }
  return out
}

function describe(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'a list'
  if (typeof value === 'string')
    return `string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`
  if (typeof value === 'object') return 'a mapping'
  return `${typeof value} ${String(value)}`
}

/** Zod error map for config files: short messages an operator understands (`required`, `expected number, got string "x"`). */
export const configErrorMap: z.core.$ZodErrorMap = (issue) => {
  switch (issue.code) {
    case 'invalid_type':
      return issue.input === undefined
        ? 'required'
        : `expected ${issue.expected}, got ${describe(issue.input)}`
    case 'unrecognized_keys':
      return `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}`
    case 'too_small':
      return `must be at least ${String(issue.minimum)}`
    case 'too_big':
      return `must be at most ${String(issue.maximum)}`
    default:
      return undefined
  }
}

/** One line per issue: `workers[1].priority: must be between 1 and 10`. */
export function formatIssues(issues: readonly z.core.$ZodIssue[], prefix = ''): string[] {
  return issues.map((issue) => {
    const where = formatPath(issue.path, prefix)
    return where === '' ? issue.message : `${where}: ${issue.message}`
  })
}
