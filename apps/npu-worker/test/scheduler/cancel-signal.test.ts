import { describe, expect, it } from 'vitest'
import { ClientGone } from '../../src/scheduler/cancel-signal.js'

// ClientGone stands in for an AbortSignal on the REST infer path: the same observable behaviour for what the
// queue does with it (listeners once, removal, none after the abort), and a real AbortSignal on demand.

describe('ClientGone', () => {
  it('calls each listener once on abort, in order, and never one that was removed', () => {
    const gone = new ClientGone()
    const calls: string[] = []
    const a = () => calls.push('a')
    const b = () => calls.push('b')
    const c = () => calls.push('c')
    gone.addEventListener('abort', a)
    gone.addEventListener('abort', b)
    gone.addEventListener('abort', c)
    gone.removeEventListener('abort', b)
    expect(gone.aborted).toBe(false)
    gone.abort()
    gone.abort()
    expect(gone.aborted).toBe(true)
    expect(calls).toEqual(['a', 'c'])
  })

  it('does not call a listener added after the abort, as an AbortSignal does not', () => {
    const gone = new ClientGone()
    gone.abort()
    let called = false
    gone.addEventListener('abort', () => {
      called = true
    })
    const signal = AbortSignal.abort()
    signal.addEventListener('abort', () => {
      called = true
    })
    expect(called).toBe(false)
  })

  it('gives an AbortSignal that follows it, before or after the abort', () => {
    const early = new ClientGone()
    const signal = early.asAbortSignal()
    expect(early.asAbortSignal()).toBe(signal)
    let fired = 0
    signal.addEventListener('abort', () => fired++)
    expect(signal.aborted).toBe(false)
    early.abort()
    expect(signal.aborted).toBe(true)
    expect(fired).toBe(1)

    const late = new ClientGone()
    late.abort()
    expect(late.asAbortSignal().aborted).toBe(true)
  })
})
