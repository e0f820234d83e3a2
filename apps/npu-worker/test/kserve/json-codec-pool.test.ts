import { describe, expect, it } from 'vitest'
import { JsonCodecPool } from '../../src/kserve/json-codec-pool.js'
import { DIST_THREAD_ENTRIES } from '../helpers/thread-entries.js'

// The JSON codec's thread, replaced when it dies: work sent to the replacement must never be failed by the old
// thread's end (the race where `lost()` rejected every pending call, the replacement's included).

const bytesOf = (text: string) => new TextEncoder().encode(text)
const body = (text: string) => [bytesOf(text)]
/** The data of the first input of a decoded request (decoded on the thread into a tensor). */
const firstData = (request: Awaited<ReturnType<JsonCodecPool['decode']>>) => {
  const contents = request.inputs[0]?.contents
  return contents?.kind === 'tensor' ? contents.tensor.data : contents
}
const VALID = JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP32', shape: [2], data: [1, 2] }] })

describe('JsonCodecPool', () => {
  it('fails the work of a thread that crashed, and serves work sent right after on its replacement', async () => {
    const pool = new JsonCodecPool(new URL('./fixtures/crashing-json-codec-thread.mjs', import.meta.url))
    try {
      expect(firstData(await pool.decode(body(VALID)))).toEqual(Float32Array.of(1, 2))
      await expect(pool.decode(body('CRASH'))).rejects.toThrow(/JSON codec thread json-codec failed/)
      // Straight after the failure: the old thread may still be ending while this goes to a new one.
      const after = await Promise.all([pool.decode(body(VALID)), pool.decode(body(VALID))])
      expect(after.map(firstData)).toEqual([Float32Array.of(1, 2), Float32Array.of(1, 2)])
    } finally {
      await pool.close()
    }
  })

  it("decodes BYTES inputs to strings on the thread, with the inline path's checks", async () => {
    const pool = new JsonCodecPool(new URL('./fixtures/crashing-json-codec-thread.mjs', import.meta.url))
    try {
      const text = JSON.stringify({
        inputs: [{ name: 't', datatype: 'BYTES', shape: [2], data: ['a', 'ü'] }],
      })
      expect(firstData(await pool.decode(body(text)))).toEqual(['a', 'ü'])
      const bad = JSON.stringify({ inputs: [{ name: 't', datatype: 'BYTES', shape: [2], data: ['a', 2] }] })
      await expect(pool.decode(body(bad))).rejects.toMatchObject({
        code: 'NPU_ERR_BAD_INFER_REQUEST',
        message: 'inputs[0].data[1]: expected a string, got 2',
      })
    } finally {
      await pool.close()
    }
  })

  it('keeps the 400s of the inline path', async () => {
    const pool = new JsonCodecPool(new URL('./fixtures/crashing-json-codec-thread.mjs', import.meta.url))
    try {
      await expect(pool.decode(body('{'))).rejects.toMatchObject({ code: 'NPU_ERR_MALFORMED_BODY' })
      await expect(pool.decode(body('{"inputs": 3}'))).rejects.toMatchObject({
        code: 'NPU_ERR_BAD_INFER_REQUEST',
      })
    } finally {
      await pool.close()
    }
  })

  it('decodes a body split anywhere, mid-number and mid-string, and pooled views among its chunks', async () => {
    const pool = new JsonCodecPool(DIST_THREAD_ENTRIES.jsonCodec)
    try {
      const data = Array.from({ length: 500 }, (_, i) => i / 7)
      const text = JSON.stringify({
        id: 'réq-ü',
        inputs: [{ name: 'x', datatype: 'FP64', shape: [500], data }],
      })
      const whole = Buffer.from(text)
      for (const size of [1, 3, 7, 64, 1000]) {
        // Alternating chunks that own their buffer and pooled Buffer views (copied before the transfer).
        const chunks: Uint8Array[] = []
        for (let at = 0; at < whole.length; at += size) {
          const part = whole.subarray(at, at + size)
          chunks.push(
            (at / size) % 2 === 0 ? new Uint8Array(part) : Buffer.from(part.toString('latin1'), 'latin1'),
          )
        }
        const request = await pool.decode(chunks)
        expect(request.id).toBe('réq-ü')
        expect(firstData(request)).toEqual(Float64Array.from(data))
      }
      // A bad byte in a later chunk is reported where it is in the whole body.
      await expect(pool.decode([bytesOf('{"inputs"'), bytesOf(': [}')])).rejects.toMatchObject({
        code: 'NPU_ERR_MALFORMED_BODY',
      })
    } finally {
      await pool.close()
    }
  })

  it('ends its thread after idleMs without work and starts a new one for the next body', async () => {
    const pool = new JsonCodecPool(DIST_THREAD_ENTRIES.jsonCodec, 50)
    try {
      expect(pool.running).toBe(false)
      expect(firstData(await pool.decode(body(VALID)))).toEqual(Float32Array.of(1, 2))
      expect(pool.running).toBe(true)
      const deadline = Date.now() + 30_000
      while (pool.running && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
      expect(pool.running).toBe(false)
      expect(firstData(await pool.decode(body(VALID)))).toEqual(Float32Array.of(1, 2))
    } finally {
      await pool.close()
    }
  })
})
