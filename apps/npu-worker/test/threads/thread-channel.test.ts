import { describe, expect, it } from 'vitest'
import { ThreadCallError, ThreadChannel, ThreadLostError } from '../../src/threads/thread-channel.js'

// The thread helper both thread kinds use (ONNX Runtime sessions, the JSON codec), against real worker threads
// running a scripted entry on the compiled thread-service.js (build first).

type Request =
  | { op: 'echo'; value: unknown; delayMs?: number }
  | { op: 'throw'; value: string }
  | { op: 'exit'; code: number }
  | { op: 'crash' }

const ENTRY = new URL('./fixtures/scripted-thread.mjs', import.meta.url)
const open = (workerData?: unknown) =>
  ThreadChannel.open<Request, unknown, { greeting: string }>(ENTRY, { name: 'scripted', workerData })

describe('ThreadChannel', () => {
  it('reports what the service started with, and pairs every reply with its call', async () => {
    const channel = open({ tag: 7 })
    expect(await channel.started).toEqual({ ok: true, info: { greeting: 'hello', data: { tag: 7 } } })
    const slow = channel.call({ op: 'echo', value: 'slow', delayMs: 100 })
    const fast = channel.call({ op: 'echo', value: 'fast' })
    expect(channel.inFlight).toBe(2)
    // Replies come back out of order and still reach their own caller.
    expect(await fast).toBe('fast')
    expect(await slow).toBe('slow')
    expect(channel.inFlight).toBe(0)
    await channel.close(5_000)
  })

  it('rejects a call its service throws on with ThreadCallError, and keeps serving', async () => {
    const channel = open()
    await expect(channel.call({ op: 'throw', value: 'x' })).rejects.toThrow(
      new ThreadCallError('service threw: x'),
    )
    expect(await channel.call({ op: 'echo', value: 1 })).toBe(1)
    await channel.close(5_000)
  })

  it('says why a service could not start', async () => {
    const channel = open({ failStart: 'no session' })
    expect(await channel.started).toEqual({ ok: false, message: 'cannot start: no session' })
    expect((await channel.exited).code).toBe(0)
  })

  it("rejects only the dying thread's calls, saying how it died; another thread's calls are untouched", async () => {
    const dying = open()
    const other = open()
    await Promise.all([dying.started, other.started])
    const slowOnOther = other.call({ op: 'echo', value: 'still here', delayMs: 200 })
    const pending = dying.call({ op: 'echo', value: 'never', delayMs: 5_000 })
    const killer = dying.call({ op: 'exit', code: 7 })
    await expect(pending).rejects.toThrow(new ThreadLostError('thread scripted exited with code 7'))
    await expect(killer).rejects.toBeInstanceOf(ThreadLostError)
    expect(await dying.exited).toEqual({ code: 7, error: null })
    expect(await slowOnOther).toBe('still here')
    await expect(dying.call({ op: 'echo', value: 1 })).rejects.toThrow(/has ended/)
    await other.close(5_000)
  })

  it('names the uncaught error of a thread that crashed', async () => {
    const channel = open()
    await channel.started
    await expect(channel.call({ op: 'crash' })).rejects.toThrow(
      new ThreadLostError('thread scripted failed (uncaught in thread)'),
    )
    expect(channel.exit).toMatchObject({ error: 'uncaught in thread' })
  })

  it('refuses an entry that does not exist, naming the path', () => {
    expect(() =>
      ThreadChannel.open(new URL('./fixtures/missing.mjs', import.meta.url), { name: 'x' }),
    ).toThrow(/thread entry .*fixtures\/missing\.mjs not found: build the worker/)
  })

  it('close() ends the thread in order', async () => {
    const channel = open()
    await channel.started
    expect(await channel.close(5_000)).toEqual({ code: 0, error: null })
  })
})
