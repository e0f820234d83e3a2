import { describe, expect, it } from 'vitest'
import { PoolError, PoolErrorCode } from '../../src/errors.js'
import type { AttemptOutcome, RetryableOutcome } from '../../src/retry/attempt-outcome.js'
import { RetryBudget } from '../../src/retry/retry-budget.js'
import { type Attempted, type RetryNotice, RetryPolicy } from '../../src/retry/retry-policy.js'
import { PoolCounters } from '../../src/stats/pool-counters.js'

// The retry policy alone, around scripted attempt functions: it knows nothing of HTTP or selection, so its
// rules (what ends a task, what is retried, on whom, under which budget) are checked here without workers.

interface W {
  id: string
}
const retryable = (over: Partial<RetryableOutcome> = {}): RetryableOutcome => ({
  kind: 'retryable',
  reason: 'server_error',
  message: 'HTTP 500',
  status: 500,
  workerCode: 'NPU_ERR_INFERENCE_FAILED',
  countsAgainstWorker: true,
  retryAfterMs: null,
  recheckHealth: false,
  ...over,
})

function policy(settings: Partial<{ maxAttempts: number; minRetries: number; ratio: number }> = {}) {
  const counters = new PoolCounters()
  const notices: RetryNotice[] = []
  const budget = new RetryBudget({
    ratio: settings.ratio ?? 0.2,
    minRetries: settings.minRetries ?? 10,
    windowMs: 10_000,
  })
  const p = new RetryPolicy({
    settings: () => ({
      maxAttempts: settings.maxAttempts ?? 3,
      retryBudgetMinRetries: settings.minRetries ?? 10,
      retryBudgetRatio: settings.ratio ?? 0.2,
      retryBudgetWindowMs: 10_000,
    }),
    budget,
    counters,
    onRetry: (n) => notices.push(n),
  })
  return { p, counters, notices }
}

/** An attempt function that answers with `script[i]` on worker `w{i}` and records what was excluded. */
function scripted(script: Array<AttemptOutcome<string> | PoolError>) {
  const triedSeen: string[][] = []
  let i = 0
  const attempt = async (tried: readonly W[]): Promise<Attempted<string, W>> => {
    triedSeen.push(tried.map((w) => w.id))
    const step = script[i] ?? new PoolError(PoolErrorCode.RETRIES_EXHAUSTED, 'no other worker left')
    const worker = { id: `w${i++}` }
    return step instanceof PoolError
      ? { kind: 'unavailable', error: step }
      : { kind: 'attempted', worker, outcome: step }
  }
  return { attempt, triedSeen }
}
const task = { deadline: Date.now() + 60_000, timeoutMs: 60_000, signal: undefined }

describe('RetryPolicy', () => {
  it('retries a retryable failure on a worker not yet tried, and returns the first success', async () => {
    const { p, counters, notices } = policy()
    const { attempt, triedSeen } = scripted([
      retryable(),
      retryable({ reason: 'timeout' }),
      { kind: 'success', value: 'ok' },
    ])
    const result = await p.execute(attempt, task)
    expect(result).toMatchObject({ kind: 'success', value: 'ok', attempts: 3, worker: { id: 'w2' } })
    expect(triedSeen).toEqual([[], ['w0'], ['w0', 'w1']])
    expect(notices.map((n) => [n.workerId, n.attempt, n.outcome.reason])).toEqual([
      ['w0', 1, 'server_error'],
      ['w1', 2, 'timeout'],
    ])
    expect([counters.failedAttempts, counters.retries]).toEqual([2, 2])
  })

  it('ends at max_attempts with POOL_ERR_RETRIES_EXHAUSTED and the last failure in details', async () => {
    const { p } = policy({ maxAttempts: 2 })
    const { attempt } = scripted([
      retryable(),
      retryable({ reason: 'connection', status: null, workerCode: null }),
    ])
    expect(await p.execute(attempt, task)).toEqual({
      kind: 'failure',
      code: 'POOL_ERR_RETRIES_EXHAUSTED',
      message: 'all 2 attempts failed; last: HTTP 500',
      attempts: 2,
      details: { lastWorker: 'w1', lastReason: 'connection', lastStatus: null, lastWorkerCode: null },
    })
  })

  it('never retries bad input, a caller abort or the caller deadline', async () => {
    const { p } = policy()
    const rejected = scripted([
      {
        kind: 'rejected',
        status: 400,
        message: 'bad shape',
        workerCode: 'NPU_ERR_BAD_INFER_REQUEST',
        details: null,
      },
    ])
    expect(await p.execute(rejected.attempt, task)).toMatchObject({
      kind: 'failure',
      code: 'POOL_ERR_WORKER_REJECTED',
      attempts: 1,
      details: { worker: 'w0', status: 400, workerCode: 'NPU_ERR_BAD_INFER_REQUEST' },
    })
    expect(await p.execute(scripted([{ kind: 'aborted' }]).attempt, task)).toMatchObject({
      code: 'POOL_ERR_ABORTED',
    })
    expect(
      await p.execute(scripted([{ kind: 'deadline', message: 'no answer within 30 ms' }]).attempt, task),
    ).toMatchObject({
      code: 'POOL_ERR_DEADLINE_EXCEEDED',
      message: 'deadline of 60000 ms passed: no answer within 30 ms',
    })
  })

  it('turns "nobody left" after a failure into RETRIES_EXHAUSTED with the last error; before any, the leases code', async () => {
    const { p } = policy()
    const after = scripted([
      retryable(),
      new PoolError(PoolErrorCode.RETRIES_EXHAUSTED, 'no other worker left to try'),
    ])
    expect(await p.execute(after.attempt, task)).toMatchObject({
      code: 'POOL_ERR_RETRIES_EXHAUSTED',
      message: 'no other worker left to try; last error: HTTP 500',
      attempts: 1,
    })
    const none = scripted([new PoolError(PoolErrorCode.NO_WORKERS, 'no worker available')])
    expect(await p.execute(none.attempt, task)).toEqual({
      kind: 'failure',
      code: 'POOL_ERR_NO_WORKERS',
      message: 'no worker available',
      attempts: 0,
    })
  })

  it('stops when the retry budget is spent, and counts the denial', async () => {
    const { p, counters } = policy({ minRetries: 1, ratio: 0 })
    expect(
      await p.execute(scripted([retryable(), { kind: 'success', value: 'ok' }]).attempt, task),
    ).toMatchObject({
      kind: 'success',
    })
    expect(await p.execute(scripted([retryable()]).attempt, task)).toMatchObject({
      code: 'POOL_ERR_RETRY_BUDGET_EXHAUSTED',
      attempts: 1,
    })
    expect([counters.retries, counters.retriesDenied]).toEqual([1, 1])
  })

  it('ends with DEADLINE_EXCEEDED when a failure comes after the deadline, and checks the signal first', async () => {
    const { p } = policy()
    const late = { ...task, deadline: Date.now() - 1 }
    expect(await p.execute(scripted([retryable()]).attempt, late)).toMatchObject({
      code: 'POOL_ERR_DEADLINE_EXCEEDED',
    })
    const { attempt, triedSeen } = scripted([{ kind: 'success', value: 'never' }])
    expect(await p.execute(attempt, { ...task, signal: AbortSignal.abort() })).toMatchObject({
      code: 'POOL_ERR_ABORTED',
    })
    expect(triedSeen).toEqual([])
  })
})
