import { readFileSync } from 'node:fs'
import { Worker } from 'node:worker_threads'
import { describe, expect, it } from 'vitest'
import { BACKGROUND_THREAD_NICENESS } from '../../src/backends/thread-priority.js'

// The inference and decode threads run below the event loop's priority, and only they do: the nice value is
// per thread on Linux. Read from the kernel (/proc/thread-self/stat, field 19), not from our own bookkeeping.

const niceOf = (stat: string) => Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16])

describe.runIf(process.platform === 'linux')('lowerThreadPriority', () => {
  it('lowers the calling worker thread, not the main thread', async () => {
    const before = niceOf(readFileSync('/proc/thread-self/stat', 'utf8'))
    const modulePath = new URL('../../dist/backends/thread-priority.js', import.meta.url).href
    const worker = new Worker(
      `import(${JSON.stringify(modulePath)}).then(({ lowerThreadPriority }) => {
         const applied = lowerThreadPriority()
         const stat = require('node:fs').readFileSync('/proc/thread-self/stat', 'utf8')
         require('node:worker_threads').parentPort.postMessage({ applied, stat })
       })`,
      { eval: true },
    )
    const { applied, stat } = await new Promise<{ applied: boolean; stat: string }>((resolve, reject) => {
      worker.once('message', resolve)
      worker.once('error', reject)
    })
    await worker.terminate()
    expect(applied).toBe(true)
    expect(niceOf(stat)).toBe(Math.max(before, BACKGROUND_THREAD_NICENESS))
    expect(niceOf(readFileSync('/proc/thread-self/stat', 'utf8'))).toBe(before)
  })

  it('posts at the inherited priority for the length of one send, then lowers the thread again', async () => {
    const before = niceOf(readFileSync('/proc/thread-self/stat', 'utf8'))
    const modulePath = new URL('../../dist/backends/thread-priority.js', import.meta.url).href
    const worker = new Worker(
      `import(${JSON.stringify(modulePath)}).then(({ lowerThreadPriority, atInheritedPriority }) => {
         const read = () => require('node:fs').readFileSync('/proc/thread-self/stat', 'utf8')
         lowerThreadPriority()
         const during = atInheritedPriority(read)
         require('node:worker_threads').parentPort.postMessage({ during, after: read() })
       })`,
      { eval: true },
    )
    const { during, after } = await new Promise<{ during: string; after: string }>((resolve, reject) => {
      worker.once('message', resolve)
      worker.once('error', reject)
    })
    await worker.terminate()
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
