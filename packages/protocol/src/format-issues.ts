import type { z } from 'zod'

// How every zod failure reads, on both sides: a config file, a request body, a task input.

/** `['workers', 1, 'priority']` → `workers[1].priority`, after `prefix` when given. */
export function issuePath(path: readonly PropertyKey[], prefix = ''): string {
  let out = prefix
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`
    else out += out === '' ? String(segment) : `.${String(segment)}`
  }
  return out
}

/** Where an issue comes from: a source label (`mlp/model.yaml`) and a path prefix inside it. */
export interface IssueOrigin {
  source?: string
  prefix?: string
}

/** One issue as `source: path: message`, leaving out the parts that are empty. */
export function issueLine(issue: z.core.$ZodIssue, origin: IssueOrigin = {}): string {
  const path = issuePath(issue.path, origin.prefix)
  return [origin.source, path || undefined, issue.message].filter(Boolean).join(': ')
}

/** Every issue of `error` as one line each (see {@link issueLine}). */
export function issueLines(issues: readonly z.core.$ZodIssue[], origin: IssueOrigin = {}): string[] {
  return issues.map((issue) => issueLine(issue, origin))
}

/** All issues of `error` in one message, joined by "; ": what a 400 or a config error says. */
export function formatIssues(error: z.ZodError, source?: string): string {
  return issueLines(error.issues, source === undefined ? {} : { source }).join('; ')
}
