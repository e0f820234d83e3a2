import { describe, expect, it, vi } from 'vitest'
import { Float32Scanner } from '../../src/kserve/float32-scanner.js'
import { type NumericData, parseJsonTensors } from '../../src/kserve/json-tensor-parser.js'

// The JSON thread's body buffer: chunks joined into the WebAssembly memory, reused, grown to the largest body
// and its float32s; the parser reads FP32 data there with the WebAssembly loop (exactness: the fuzz test).

const bytesOf = (text: string) => new TextEncoder().encode(text)
const body = (...parts: string[]) => {
  const chunks = parts.map(bytesOf)
  return { chunks, length: chunks.reduce((sum, chunk) => sum + chunk.length, 0) }
}

describe('Float32Scanner', () => {
  it('joins chunks into one reused memory, a smaller body after a larger one included', () => {
    const scanner = new Float32Scanner()
    const big = scanner.join(body('abc', 'defg', 'h'))
    expect(Buffer.from(big).toString()).toBe('abcdefgh')
    const small = scanner.join(body('12', '3'))
    expect(Buffer.from(small).toString()).toBe('123')
    expect(small.buffer).toBe(big.buffer)
    expect(scanner.holds(small)).toBe(true)
    expect(scanner.holds(bytesOf('123'))).toBe(false)
    // Part of the body is not the body: past its end lie the body's next bytes, not zeros.
    expect(scanner.holds(small.subarray(0, 2))).toBe(false)
    const bigger = scanner.join(body('0123456789', 'ab'))
    expect(Buffer.from(bigger).toString()).toBe('0123456789ab')
  })

  it('grows its memory to a body and its float32s, and keeps it for the next body', () => {
    const scanner = new Float32Scanner()
    const values = Array.from({ length: 100_000 }, (_, i) => Math.fround(Math.sin(i)))
    const text = JSON.stringify({ inputs: [{ datatype: 'FP32', shape: [values.length], data: values }] })
    const joined = scanner.join(body(text.slice(0, 1000), text.slice(1000)))
    const memory = joined.buffer.byteLength
    expect(memory).toBeGreaterThanOrEqual(2 * text.length)
    expect(memory).toBeLessThan(2 * text.length + 3 * 65_536)
    const parsed = parseJsonTensors(joined, scanner) as { inputs: Array<{ data: NumericData }> }
    const data = parsed.inputs[0]?.data.values
    expect(data).toBeInstanceOf(Float32Array)
    // The tensor is a buffer of its own, not a view into the memory the next body overwrites.
    expect(data?.buffer).not.toBe(joined.buffer)
    expect(data?.buffer.byteLength).toBe(values.length * 4)
    expect(Array.from(data ?? [])).toEqual(values)
    expect(scanner.copy(bytesOf('{"inputs":[]}')).buffer.byteLength).toBe(memory)
  })

  it('has no room for more float32s than the memory holds: the parser reads them into an array of its own', () => {
    const scanner = new Float32Scanner()
    scanner.copy(bytesOf('[1,2,3]'))
    expect(scanner.output(4)?.length).toBe(4)
    expect(scanner.output(10_000_000)).toBeNull()
    // Numbers of two bytes each ("0,") need twice the body in float32s: more than the memory keeps for them.
    const zeros = Array.from({ length: 100_000 }, () => 0)
    const text = JSON.stringify({ inputs: [{ datatype: 'FP32', shape: [zeros.length], data: zeros }] })
    const joined = scanner.copy(bytesOf(text))
    expect(scanner.output(zeros.length)).toBeNull()
    const parsed = parseJsonTensors(joined, scanner) as { inputs: Array<{ data: NumericData }> }
    const data = parsed.inputs[0]?.data.values
    expect(data?.buffer).not.toBe(joined.buffer)
    expect(Array.from(data ?? [])).toEqual(zeros)
  })

  it('stops at the end of the body: no digit of an earlier, longer body is read past it', () => {
    const scanner = new Float32Scanner()
    scanner.copy(bytesOf('{"inputs":[{"datatype":"FP32","data":[0.12345678901234567,0.25]}]}'))
    const truncated = scanner.copy(bytesOf('{"inputs":[{"datatype":"FP32","data":[0.1234'))
    expect(() => parseJsonTensors(truncated, scanner)).toThrow('Unexpected end of JSON input')
  })

  it('reads the separators JSON allows around FP32 elements and refuses other control bytes, as JSON.parse', () => {
    // The loop skips white space after a comma only when the byte there is at most 0x20: every white space
    // JSON allows, and each control byte it refuses, either side of a comma and before the bracket.
    const scanner = new Float32Scanner()
    const text = (sep: string, end: string) =>
      `{"inputs":[{"datatype":"FP32","data":[0.5${sep}-0.30000001192092896${sep}1e-3${sep}7${end}]}]}`
    for (const sep of [',', ', ', ',\n\t', ',\r\n  ', ' ,', '\t,\t', ',\u0001', '\u001f,', ',\u0000']) {
      for (const end of ['', ' ', '\n', '\u0001']) {
        const json = text(sep, end)
        let expected: number[] | string
        try {
          expected = (JSON.parse(json).inputs[0].data as number[]).map(Math.fround)
        } catch (error) {
          expected = (error as Error).name
        }
        let got: number[] | string
        try {
          const parsed = parseJsonTensors(scanner.copy(bytesOf(json)), scanner) as {
            inputs: Array<{ data: NumericData }>
          }
          got = Array.from(parsed.inputs[0]?.data.values ?? [])
        } catch (error) {
          got = (error as Error).name
        }
        expect(got, JSON.stringify(json)).toEqual(expected)
      }
    }
  })
})

describe('createFloat32Scanner', () => {
  it('gives null and a warning naming the cause when the module cannot compile (the JS loop reads then)', async () => {
    vi.resetModules()
    const real = (globalThis as unknown as { WebAssembly: object }).WebAssembly
    vi.stubGlobal('WebAssembly', {
      ...real,
      Module: function Module() {
        throw new Error('SIMD unsupported')
      },
    })
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {})
    try {
      const fresh = await import('../../src/kserve/float32-scanner.js')
      expect(fresh.createFloat32Scanner()).toBeNull()
      expect(String(warn.mock.calls[0]?.[0])).toMatch(/without its WebAssembly loop: SIMD unsupported/)
    } finally {
      warn.mockRestore()
      vi.unstubAllGlobals()
    }
    const again = await import('../../src/kserve/float32-scanner.js')
    expect(again.createFloat32Scanner()).toBeInstanceOf(again.Float32Scanner)
  })
})
