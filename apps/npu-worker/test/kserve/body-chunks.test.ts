import { describe, expect, it } from 'vitest'
import { ownsItsBuffer, releaseChunks, transferableChunks } from '../../src/kserve/body-chunks.js'

// A body's chunks go to the JSON thread as they came: transferred when each owns its ArrayBuffer (what Node's
// HTTP parser hands out), copied when it is a view into a shared one (joined there: test/kserve/float32-scanner.test.ts).

const bytesOf = (text: string) => new TextEncoder().encode(text)

describe('transferableChunks', () => {
  it('transfers chunks that own their buffers as they are and copies views into shared ones', () => {
    const whole = bytesOf('{"inputs":')
    const shared = new Uint8Array(64)
    shared.set(bytesOf('[1,2]}'), 10)
    const slice = shared.subarray(10, 16)
    const pooled = Buffer.from('xyz') // Buffer's shared pool: byteOffset anywhere in an 8 KiB buffer
    expect(ownsItsBuffer(whole)).toBe(true)
    expect(ownsItsBuffer(slice)).toBe(false)
    expect(ownsItsBuffer(pooled)).toBe(false)
    const { body, transfer } = transferableChunks([whole, slice, pooled])
    expect(body.length).toBe(whole.length + slice.length + pooled.length)
    expect(body.chunks[0]).toBe(whole)
    expect(body.chunks.every(ownsItsBuffer)).toBe(true)
    expect(transfer).toEqual(body.chunks.map((chunk) => chunk.buffer))
    expect(new Set(transfer).size).toBe(3)
    expect(Buffer.concat(body.chunks).toString()).toBe('{"inputs":[1,2]}xyz')
    // Transferring the list detaches the chunks given up, and nothing of the shared buffers.
    structuredClone(body, { transfer })
    expect(whole.byteLength).toBe(0)
    expect(shared.byteLength).toBe(64)
    expect(pooled.toString()).toBe('xyz')
  })
})

describe('releaseChunks', () => {
  it("frees the chunks' memory by the next turn of the event loop, while they are still referenced", async () => {
    const chunks = Array.from({ length: 8 }, (_, i) => new Uint8Array(1 << 20).fill(i))
    const before = process.memoryUsage().arrayBuffers
    releaseChunks({ chunks, length: 8 << 20 })
    expect(chunks.every((chunk) => chunk.byteLength === 0)).toBe(true)
    await new Promise((resolve) => setTimeout(resolve, 0))
    // `chunks` still holds every view: no GC could have freed them, only the dropped message.
    expect(before - process.memoryUsage().arrayBuffers).toBeGreaterThanOrEqual(8 << 20)
    expect(chunks).toHaveLength(8)
  })
})
