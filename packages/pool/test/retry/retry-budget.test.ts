import { describe, expect, it } from 'vitest'
import { parseRetryAfter } from '../../src/retry/retry-after.js'
import { RetryBudget } from '../../src/retry/retry-budget.js'

describe('RetryBudget', () => {
  it('allows minRetries + ratio × tasks per window', () => {
    let now = 0
    const budget = new RetryBudget({ ratio: 0.2, minRetries: 2, windowMs: 10_000, now: () => now })
    for (let i = 0; i < 100; i++) budget.recordRequest()
    expect(budget.available).toBe(22)
    let granted = 0
    while (budget.tryAcquireRetry()) granted++
    expect(granted).toBe(22)
    // An outage cannot double the traffic: 100 tasks produced at most 22 extra requests.
    now += 5000
    expect(budget.tryAcquireRetry()).toBe(false)
  })

  it('forgets tasks and retries once they leave the sliding window', () => {
    let now = 0
    const budget = new RetryBudget({ ratio: 0.5, minRetries: 0, windowMs: 1000, now: () => now })
    for (let i = 0; i < 10; i++) budget.recordRequest()
    for (let i = 0; i < 5; i++) expect(budget.tryAcquireRetry()).toBe(true)
    expect(budget.tryAcquireRetry()).toBe(false)
    now = 999
    expect(budget.tryAcquireRetry()).toBe(false)
    now = 1000
    expect(budget.available).toBe(0)
    budget.recordRequest()
    budget.recordRequest()
    expect(budget.available).toBe(1)
    now = 50_000
    expect(budget.available).toBe(0)
  })

  it('never retries with a zero budget, and keeps counts across configure()', () => {
    const budget = new RetryBudget({ ratio: 0, minRetries: 0, windowMs: 1000, now: () => 0 })
    budget.recordRequest()
    expect(budget.tryAcquireRetry()).toBe(false)
    budget.configure({ ratio: 1, minRetries: 0, windowMs: 1000 })
    expect(budget.tryAcquireRetry()).toBe(true)
  })
})

describe('parseRetryAfter', () => {
  const now = Date.parse('2026-01-01T00:00:00Z')
  it('reads seconds and HTTP dates, caps at 300 s, ignores junk', () => {
    expect(parseRetryAfter('2', now)).toBe(2000)
    expect(parseRetryAfter('0.5', now)).toBe(500)
    expect(parseRetryAfter(['7', '9'], now)).toBe(7000)
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:10 GMT', now)).toBe(10_000)
    expect(parseRetryAfter('Wed, 31 Dec 2025 23:00:00 GMT', now)).toBe(0)
    expect(parseRetryAfter('86400', now)).toBe(300_000)
    expect(parseRetryAfter(undefined, now)).toBeNull()
    expect(parseRetryAfter('soon', now)).toBeNull()
    expect(parseRetryAfter('-1', now)).toBeNull()
  })
})
