import type { z } from 'zod'

/** `a.b[2].c` for a zod issue path. */
export function issuePath(path: readonly PropertyKey[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i > 0 ? '.' : ''}${String(p)}`)).join('')
}

/** Formats zod issues as `source: path: message` (joined by "; "), the way every config and input error reads. */
export function formatIssues(error: z.ZodError, source?: string): string {
  return error.issues
    .map((issue) => {
      const parts = [source, issuePath(issue.path) || undefined, issue.message].filter(Boolean)
      return parts.join(': ')
    })
    .join('; ')
}
