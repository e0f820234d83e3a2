import { readFileSync } from 'node:fs'
import { Worker } from 'node:worker_threads'
import { describe, expect, it } from 'vitest'
import { BACKGROUND_THREAD_NICENESS, type PriorityOutcome } from '../../src/backends/thread-priority.js'
import { niceOf } from '../helpers/thread-nice.js'

// The inference and decode threads run below the event loop's priority, and only they do: the nice value is
// per thread on Linux. Read from the kernel (/proc/thread-self/stat), not from our own bookkeeping.

describe.runIf(process.platform === 'linux')('lowerThreadPriority', () => {
  it('lowers the calling worker thread, not the main thread', async () => {
    const before = niceOf(readFileSync('/proc/thread-self/stat', 'utf8'))
    const modulePath = new URL('../../dist/backends/thread-priority.js', import.meta.url).href
    const { outcome, stat } = await replyOfThread<{ outcome: PriorityOutcome; stat: string }>(
      `import(${JSON.stringify(modulePath)}).then(({ lowerThreadPriority }) => {
         const outcome = lowerThreadPriority()
         const stat = require('node:fs').readFileSync('/proc/thread-self/stat', 'utf8')
         require('node:worker_threads').parentPort.postMessage({ outcome, stat })
       })`,
    )
    expect(niceOf(stat)).toBe(Math.max(before, BACKGROUND_THREAD_NICENESS))
    // What it reports is what the kernel shows; going back for a post needs CAP_SYS_NICE or RLIMIT_NICE.
    if (before < BACKGROUND_THREAD_NICENESS)
      expect(outcome).toEqual({
        kind: 'lowered',
        niceness: BACKGROUND_THREAD_NICENESS,
        inherited: before,
        canRestore: process.getuid?.() === 0,
      })
    else expect(outcome).toEqual({ kind: 'kept', niceness: before })
    expect(niceOf(readFileSync('/proc/thread-self/stat', 'utf8'))).toBe(before)
  })

  it('reports what its first call did on a second call (an entry lowers the thread before its service asks)', async () => {
    const modulePath = new URL('../../dist/backends/thread-priority.js', import.meta.url).href
    const { first, second } = await replyOfThread<{ first: PriorityOutcome; second: PriorityOutcome }>(
      `import(${JSON.stringify(modulePath)}).then(({ lowerThreadPriority }) => {
         const first = lowerThreadPriority()
         const second = lowerThreadPriority()
         require('node:worker_threads').parentPort.postMessage({ first, second })
       })`,
    )
    expect(second).toEqual(first)
  })

  it('posts at the inherited priority for the length of one send, then lowers the thread again', async () => {
    const before = niceOf(readFileSync('/proc/thread-self/stat', 'utf8'))
    const modulePath = new URL('../../dist/backends/thread-priority.js', import.meta.url).href
    const { during, after } = await replyOfThread<{ during: string; after: string }>(
      `import(${JSON.stringify(modulePath)}).then(({ lowerThreadPriority, atInheritedPriority }) => {
         const read = () => require('node:fs').readFileSync('/proc/thread-self/stat', 'utf8')
         lowerThreadPriority()
         const during = atInheritedPriority(read)
         require('node:worker_threads').parentPort.postMessage({ during, after: read() })
       })`,
    )
    const lowered = Math.max(before, BACKGROUND_THREAD_NICENESS)
    // Raising a niceness back needs CAP_SYS_NICE (root has it); without it the send runs lowered.
    const privileged = process.getuid?.() === 0
    expect(niceOf(during)).toBe(privileged ? before : lowered)
    expect(niceOf(after)).toBe(lowered)
  })

  it('runs the send unchanged in a thread that was never lowered', async () => {
    const { atInheritedPriority } = await import('../../src/backends/thread-priority.js')
    const before = niceOf(readFileSync('/proc/thread-self/stat', 'utf8'))
    expect(atInheritedPriority(() => niceOf(readFileSync('/proc/thread-self/stat', 'utf8')))).toBe(before)
  })
})

/** Runs `source` (CommonJS, eval'd) in a worker thread of its own and resolves with the first message it posts. */
async function replyOfThread<T>(source: string): Promise<T> {
  const worker = new Worker(source, { eval: true })
  try {
    return await new Promise<T>((resolve, reject) => {
      worker.once('message', resolve)
      worker.once('error', reject)
    })
  } finally {
    await worker.terminate()
  }
}
