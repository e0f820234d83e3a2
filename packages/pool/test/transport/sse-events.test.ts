import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { SseReader } from '../../src/transport/sse-events.js'

async function* bodyOf(parts: ReadonlyArray<string | Uint8Array>): AsyncGenerator<string | Uint8Array> {
  for (const part of parts) yield part
}

/** Every payload, taking what is buffered before awaiting more (as the relay does); `reads`: awaits that read. */
async function readAll(
  parts: ReadonlyArray<string | Uint8Array>,
): Promise<{ events: string[]; fills: number }> {
  const reader = new SseReader(bodyOf(parts))
  const events: string[] = []
  let fills = 0
  for (;;) {
    const data = reader.take()
    if (data !== undefined) {
      events.push(data)
      continue
    }
    fills++
    if (!(await reader.fill())) return { events, fills }
  }
}

describe('SseReader', () => {
  it('reads data lines, joins multi-line events, ignores comments and other fields, CRLF or LF', async () => {
    const body =
      ': hello\n\ndata: one\n\nevent: x\nid: 3\ndata:two\r\n\r\ndata: a\ndata: b\n\ndata:\n\ndata: [DONE]\n\n'
    expect((await readAll([body])).events).toEqual(['one', 'two', 'a\nb', '', '[DONE]'])
  })

  it('takes every event one body chunk completed with one await, and drops an unfinished last event', async () => {
    const { events, fills } = await readAll(['data: 1\n\ndata: 2\n\ndata: 3\n\n', 'data: 4\n\ndata: 5'])
    expect(events).toEqual(['1', '2', '3', '4'])
    // One fill per body chunk, and the last one that finds the end.
    expect(fills).toBe(3)
  })

  it('keeps a character split across chunks whole', async () => {
    const bytes = new TextEncoder().encode('data: é€😀\n\n')
    expect((await readAll([bytes.slice(0, 7), bytes.slice(7, 10), bytes.slice(10)])).events).toEqual(['é€😀'])
  })

  it('read() gives the payloads in order, then undefined at the end', async () => {
    const reader = new SseReader(bodyOf(['data: x\n\nda', 'ta: y\n', '\n']))
    expect([await reader.read(), await reader.read(), await reader.read()]).toEqual(['x', 'y', undefined])
  })

  it('passes on what the body throws', async () => {
    async function* failing() {
      yield 'data: x\n\n'
      throw new Error('socket closed')
    }
    const reader = new SseReader(failing())
    expect(await reader.read()).toBe('x')
    await expect(reader.read()).rejects.toThrow('socket closed')
  })

  it('reads the same events however the bytes are split (CRLF, multi-byte text)', async () => {
    const event = fc.array(
      fc.string({ unit: 'grapheme', maxLength: 6 }).filter((s) => !/[\r\n]/.test(s)),
      {
        minLength: 1,
        maxLength: 3,
      },
    )
    await fc.assert(
      fc.asyncProperty(
        fc.array(event, { maxLength: 6 }),
        fc.boolean(),
        fc.array(fc.nat(), { maxLength: 8 }),
        async (events, crlf, cuts) => {
          const nl = crlf ? '\r\n' : '\n'
          const text = events.map((lines) => lines.map((l) => `data: ${l}${nl}`).join('') + nl).join('')
          const bytes = new TextEncoder().encode(text)
          const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)
          const parts = [0, ...points, bytes.length]
            .slice(1)
            .map((end, i, all) => bytes.slice(i === 0 ? 0 : all[i - 1], end))
          const expected = events.map((lines) => lines.join('\n'))
          expect((await readAll(parts)).events).toEqual(expected)
        },
      ),
      { numRuns: 300 },
    )
  })
})
