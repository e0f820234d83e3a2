import { ThreadPriorityHealthSchema } from '@npu-fleet/protocol'
import { describe, expect, it, vi } from 'vitest'
import { BACKGROUND_THREAD_NICENESS } from '../../src/backends/thread-priority.js'
import { recordThreadPriority, threadPriorityHealth } from '../../src/threads/thread-priority-ledger.js'

// The ledger is per process (a module's state), so this file walks it through one life in order.
describe('thread priority ledger (/health thread_priority)', () => {
  it('says no thread has started, then what the latest one found, and counts and warns about refusals once', () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {})
    try {
      expect(threadPriorityHealth()).toMatchObject({
        state: 'no_thread_started',
        niceness: null,
        thread: null,
      })

      recordThreadPriority('ort:mlp:1#0', { kind: 'lowered', niceness: 10, inherited: 0, canRestore: true })
      expect(ThreadPriorityHealthSchema.parse(threadPriorityHealth())).toEqual({
        state: 'lowered',
        niceness: 10,
        target_niceness: BACKGROUND_THREAD_NICENESS,
        can_restore: true,
        refused_starts: 0,
        thread: 'ort:mlp:1#0',
        message: 'inference threads run at nice 10, below the event loop (nice 0)',
      })
      expect(warn).not.toHaveBeenCalled()

      // A sandbox that denies setpriority (the shipped unit once did): said in /health and warned, once.
      const refused = { kind: 'refused', niceness: 10, reason: 'EPERM' } as const
      recordThreadPriority('json-codec#0', refused)
      recordThreadPriority('ort:mlp:1#1', refused)
      const health = ThreadPriorityHealthSchema.parse(threadPriorityHealth())
      expect(health).toMatchObject({ state: 'refused', niceness: 10, can_restore: null, refused_starts: 2 })
      expect(health.message).toMatch(/could not lower their priority to nice 10 \(EPERM\).*syscall filter/)
      expect(warn).toHaveBeenCalledTimes(1)
      expect(warn.mock.calls[0]?.[1]).toEqual({ code: 'NPU_WORKER_THREAD_PRIORITY' })

      // Lowered but not allowed back up to post: the priority inversion stays, and /health says why.
      recordThreadPriority('ort:det:1#0', { kind: 'lowered', niceness: 10, inherited: 0, canRestore: false })
      expect(threadPriorityHealth()).toMatchObject({
        state: 'lowered',
        can_restore: false,
        refused_starts: 2,
      })
      expect(threadPriorityHealth().message).toMatch(/may not go back to nice 0.*LimitNICE=\+0/)

      recordThreadPriority('ort:det:1#1', { kind: 'kept', niceness: 15 })
      expect(threadPriorityHealth()).toMatchObject({ state: 'kept', niceness: 15, can_restore: null })
      recordThreadPriority('x', { kind: 'unsupported', platform: 'darwin' })
      expect(threadPriorityHealth()).toMatchObject({ state: 'unsupported', niceness: null })
      expect(warn).toHaveBeenCalledTimes(1)
    } finally {
      warn.mockRestore()
    }
  })
})
