/** A native call that did not settle within its limit. */
export class TimeLimitError extends Error {
  override name = 'TimeLimitError'
  constructor(
    readonly what: string,
    readonly limitMs: number,
  ) {
    super(`${what} did not finish within ${limitMs} ms`)
  }
}

/** Settles like `promise`, or rejects with {@link TimeLimitError} after `limitMs` (the promise is abandoned). */
export function withTimeLimit<T>(promise: Promise<T>, limitMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeLimitError(what, limitMs)), limitMs)
  })
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer))
}

/** Settles with `promise`, or with `'timeout'` after `ms` (the promise is abandoned; the timer never keeps the process alive). */
export function settleWithin<T>(promise: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined
  const limit = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms)
    timer.unref()
  })
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer))
}
