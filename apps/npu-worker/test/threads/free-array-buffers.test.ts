import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { freeArrayBuffers } from '../../src/threads/free-array-buffers.js'

/** The process's resident memory, KiB (smaps_rollup: what the bench reads too). */
const residentKiB = () =>
  Number(/^Rss:\s+(\d+) kB/m.exec(readFileSync('/proc/self/smaps_rollup', 'utf8'))?.[1])

describe('freeArrayBuffers', () => {
  it('detaches every buffer at once: its views read as empty', () => {
    const buffers = [new ArrayBuffer(1024), new ArrayBuffer(3 * 1024 * 1024)]
    const view = new Float32Array(buffers[1] as ArrayBuffer, 4, 8)
    freeArrayBuffers(buffers)
    expect(buffers.map((b) => b.byteLength)).toEqual([0, 0])
    expect(view.length).toBe(0)
    // The closed port it posts on stays usable.
    const later = new ArrayBuffer(16)
    freeArrayBuffers([later])
    expect(later.byteLength).toBe(0)
    freeArrayBuffers([])
  })

  it('hands the memory back now, before any garbage collection', () => {
    // Two buffers of 40 MiB with every page written: resident until freed. glibc maps any allocation over
    // 32 MiB on its own whatever its tuning, so freeing one unmaps it.
    const buffers = Array.from({ length: 2 }, () => {
      const bytes = Buffer.allocUnsafeSlow(40 * 1024 * 1024)
      bytes.fill(7)
      return bytes.buffer as ArrayBuffer
    })
    const held = residentKiB()
    freeArrayBuffers(buffers)
    const after = residentKiB()
    // Synchronous: no await, no collection in between. At least 3/4 of the 80 MiB left the process.
    expect(held - after).toBeGreaterThan(60 * 1024)
  })
})
