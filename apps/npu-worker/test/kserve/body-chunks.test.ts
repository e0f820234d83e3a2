import { describe, expect, it } from 'vitest'
import { JoinBuffer, ownsItsBuffer, transferableChunks } from '../../src/kserve/body-chunks.js'

// A body's chunks go to the JSON thread as they came: transferred when each owns its ArrayBuffer (what Node's
// HTTP parser hands out), copied when it is a view into a shared one, and joined there in a reused buffer.

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

describe('JoinBuffer', () => {
  it('joins chunks into one reused buffer, a smaller body after a larger one included', () => {
    const join = new JoinBuffer()
    const big = join.join({ chunks: [bytesOf('abc'), bytesOf('defg'), bytesOf('h')], length: 8 })
    expect(Buffer.from(big).toString()).toBe('abcdefgh')
    const small = join.join({ chunks: [bytesOf('12'), bytesOf('3')], length: 3 })
    expect(Buffer.from(small).toString()).toBe('123')
    expect(small.buffer).toBe(big.buffer)
    const bigger = join.join({ chunks: [bytesOf('0123456789'), bytesOf('ab')], length: 12 })
    expect(Buffer.from(bigger).toString()).toBe('0123456789ab')
  })

  it('hands a single chunk back as it is, without a copy', () => {
    const only = bytesOf('{"inputs":[]}')
    expect(new JoinBuffer().join({ chunks: [only], length: only.length })).toBe(only)
  })
})
