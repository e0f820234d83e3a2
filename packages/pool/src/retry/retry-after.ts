/** Longest Retry-After honoured; a worker asking for more is treated as asking for this. */
export const MAX_RETRY_AFTER_MS = 300_000

/**
 * Parses a `Retry-After` header (delta-seconds or an HTTP date) into milliseconds from `now`, capped at
 * {@link MAX_RETRY_AFTER_MS}; null when absent or unreadable.
 */
export function parseRetryAfter(value: string | string[] | undefined, now: number): number | null {
  const raw = Array.isArray(value) ? value[0] : value
  if (raw === undefined) return null
  const text = raw.trim()
  if (text === '') return null
  if (/^\d+(\.\d+)?$/.test(text)) return Math.min(Math.round(Number(text) * 1000), MAX_RETRY_AFTER_MS)
  // HTTP dates always name a weekday and month; bare numbers like "-1" are not dates.
  if (!/[A-Za-z]/.test(text)) return null
  const date = Date.parse(text)
  if (Number.isNaN(date)) return null
  return Math.min(Math.max(0, date - now), MAX_RETRY_AFTER_MS)
}
