import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { PoolError } from '../src/errors.js'
import { NpuTaskQueue } from '../src/task-queue.js'

beforeEach(() => {
  vi.useFakeTimers()
})
afterEach(() => {
  vi.useRealTimers()
})

/** A task that finishes after `ms` of (fake) time, recording when it ran. */
function job(log: string[], name: string, ms: number) {
  return (signal: AbortSignal) =>
    new Promise<string>((resolve, reject) => {
      log.push(`start ${name}`)
      const timer = setTimeout(() => {
        log.push(`end ${name}`)
        resolve(name)
      }, ms)
      signal.addEventListener('abort', () => {
        clearTimeout(timer)
        log.push(`abort ${name}`)
        reject(signal.reason)
      })
    })
}

describe('NpuTaskQueue', () => {
  it('runs at most `concurrency` tasks, in FIFO order', async () => {
    const q = new NpuTaskQueue({ concurrency: 2, maxQueued: 10, timeoutMs: 0 })
    const log: string[] = []
    const results = ['a', 'b', 'c', 'd'].map((n) => q.add(job(log, n, 100)))
    expect(q.running).toBe(2)
    expect(q.size).toBe(2)
    expect(log).toEqual(['start a', 'start b'])
    await vi.advanceTimersByTimeAsync(100)
    expect(log).toEqual(['start a', 'start b', 'end a', 'start c', 'end b', 'start d'])
    await vi.advanceTimersByTimeAsync(100)
    expect(await Promise.all(results)).toEqual(['a', 'b', 'c', 'd'])
    await q.onIdle()
  })

  it('refuses work beyond its bound with POOL_ERR_TASK_QUEUE_FULL', async () => {
    const q = new NpuTaskQueue({ concurrency: 1, maxQueued: 1, timeoutMs: 0 })
    const log: string[] = []
    void q.add(job(log, 'a', 10))
    void q.add(job(log, 'b', 10))
    await expect(q.add(job(log, 'c', 10))).rejects.toMatchObject({ code: 'POOL_ERR_TASK_QUEUE_FULL' })
    await vi.advanceTimersByTimeAsync(20)
    await q.onIdle()
  })

  it('times out a waiting task (removed) and a running one (aborted) with POOL_ERR_TASK_TIMEOUT', async () => {
    const q = new NpuTaskQueue({ concurrency: 1, maxQueued: 5, timeoutMs: 150 })
    const log: string[] = []
    const running = q.add(job(log, 'slow', 1000)).catch((e: PoolError) => e.code)
    const waiting = q.add(job(log, 'never', 10), { timeoutMs: 100 }).catch((e: PoolError) => e.code)
    const patient = q.add(job(log, 'later', 10), { timeoutMs: 10_000 })
    await vi.advanceTimersByTimeAsync(100)
    expect(await waiting).toBe('POOL_ERR_TASK_TIMEOUT')
    expect(q.size).toBe(1)
    await vi.advanceTimersByTimeAsync(50)
    expect(await running).toBe('POOL_ERR_TASK_TIMEOUT')
    // The slow task honoured its signal, so its slot is free and the patient task runs; `never` never started.
    await vi.advanceTimersByTimeAsync(10)
    expect(await patient).toBe('later')
    expect(log).toEqual(['start slow', 'abort slow', 'start later', 'end later'])
  })

  it('holds the slot of a timed-out task until its function really settles', async () => {
    const q = new NpuTaskQueue({ concurrency: 1, maxQueued: 5, timeoutMs: 50 })
    const log: string[] = []
    const stubborn = () =>
      new Promise<string>((resolve) => {
        log.push('start stubborn')
        setTimeout(() => resolve('late'), 500)
      })
    const first = q.add(stubborn).catch((e: PoolError) => e.code)
    const next = q.add(job(log, 'next', 10), { timeoutMs: 10_000 })
    await vi.advanceTimersByTimeAsync(50)
    expect(await first).toBe('POOL_ERR_TASK_TIMEOUT')
    expect(q.running).toBe(1)
    await vi.advanceTimersByTimeAsync(450)
    await vi.advanceTimersByTimeAsync(10)
    expect(await next).toBe('next')
  })

  it('cancels with the caller signal and passes task errors through', async () => {
    const q = new NpuTaskQueue({ concurrency: 1, maxQueued: 5 })
    const log: string[] = []
    const controller = new AbortController()
    const first = q.add(job(log, 'a', 100), { signal: controller.signal }).catch((e: PoolError) => e.code)
    const queued = q.add(job(log, 'b', 100), { signal: controller.signal }).catch((e: PoolError) => e.code)
    controller.abort()
    expect(await first).toBe('POOL_ERR_ABORTED')
    expect(await queued).toBe('POOL_ERR_ABORTED')
    expect(q.size).toBe(0)
    await expect(q.add(async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom')
    await expect(
      q.add(() => {
        throw new Error('sync boom')
      }),
    ).rejects.toThrow('sync boom')
    await expect(q.add(async () => 1, { signal: AbortSignal.abort() })).rejects.toMatchObject({
      code: 'POOL_ERR_ABORTED',
    })
    await q.onIdle()
    expect(() => new NpuTaskQueue({ concurrency: 0 })).toThrow(/concurrency must be an integer/)
  })
})
