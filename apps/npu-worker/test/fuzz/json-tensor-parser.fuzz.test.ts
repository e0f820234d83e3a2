import fc from 'fast-check'
import secureJson from 'secure-json-parse'
import { describe, expect, it } from 'vitest'
import { Float32Scanner } from '../../src/kserve/float32-scanner.js'
import { NumericData, parseJsonTensors } from '../../src/kserve/json-tensor-parser.js'

// The tensor JSON parser against the reference it replaces: Fastify's parse of the same bytes
// (secure-json-parse with protoAction and constructorAction 'error' over Buffer#toString('utf8')). On valid
// input both must give the same values, down to the sign of zero and the last bit of every double; on invalid
// input both must refuse. The data of an FP32 input may come as a Float32Array: then only where the input's
// datatype is FP32, and each value Math.fround of the reference's, bit for bit. Every body is also parsed as
// the JSON thread does, joined into a Float32Scanner's WebAssembly memory whose loop reads FP32 data: the same
// value, or the same SyntaxError message.

const reference = (bytes: Uint8Array): unknown =>
  secureJson.parse(Buffer.from(bytes).toString('utf8'), { protoAction: 'error', constructorAction: 'error' })

const utf8 = (text: string) => new Uint8Array(Buffer.from(text, 'utf8'))

/** Our result with every NumericData turned back into the plain array JSON.parse makes. */
function plain(value: unknown): unknown {
  if (value instanceof NumericData) return Array.from(value.values)
  if (Array.isArray(value)) return value.map(plain)
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(value)) out[k] = plain(v)
    return out
  }
  return value
}

/** Deep equality that tells -0 from 0 and compares doubles bit for bit (Object.is). */
function same(a: unknown, b: unknown): boolean {
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false
    return a.every((x, i) => same(x, b[i]))
  }
  if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object') {
    const ka = Object.keys(a)
    const kb = Object.keys(b)
    if (ka.join('\u0000') !== kb.join('\u0000')) return false
    return ka.every((k) => same((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
  }
  return Object.is(a, b)
}

/**
 * The reference's value as ours must be: the data we read as float32 rounded to float32, after checking that
 * we did so only for an input whose datatype is FP32.
 */
function asFloat32Where(ours: unknown, expected: unknown): unknown {
  const inputs = (ours as { inputs?: unknown } | null)?.inputs
  if (!Array.isArray(inputs)) return expected
  inputs.forEach((input: unknown, i) => {
    const data = (input as { data?: unknown } | null)?.data
    if (!(data instanceof NumericData) || !(data.values instanceof Float32Array)) return
    const reference = (expected as { inputs: Array<{ datatype: unknown; data: number[] }> }).inputs[i]
    if (reference?.datatype !== 'FP32') throw new Error(`inputs[${i}] read as float32 but is not FP32`)
    reference.data = reference.data.map(Math.fround)
  })
  return expected
}

const scanner = new Float32Scanner()

/** The JSON thread's way: the bytes joined into the scanner's memory, FP32 data read by its loop. */
const parseInScanner = (bytes: Uint8Array): unknown => parseJsonTensors(scanner.copy(bytes), scanner)

/** Both accept with the same value, or both refuse; the scanner's way gives the same value or the same error. */
function agree(bytes: Uint8Array): void {
  let expected: unknown
  let expectedError: unknown = null
  try {
    expected = reference(bytes)
  } catch (error) {
    expectedError = error
  }
  if (expectedError) {
    expect(() => parseJsonTensors(bytes)).toThrow(SyntaxError)
    let message = ''
    try {
      parseJsonTensors(bytes)
    } catch (error) {
      message = (error as Error).message
    }
    expect(() => parseInScanner(bytes)).toThrow(new SyntaxError(message))
    return
  }
  const parsed = parseJsonTensors(bytes)
  const actual = plain(parsed)
  if (!same(actual, asFloat32Where(parsed, expected))) {
    throw new Error(`differs on ${Buffer.from(bytes).toString('utf8').slice(0, 300)}`)
  }
  const scanned = parseInScanner(bytes)
  if (!same(plain(scanned), actual) || !sameKinds(scanned, parsed)) {
    throw new Error(`the scanner's way differs on ${Buffer.from(bytes).toString('utf8').slice(0, 300)}`)
  }
}

/** The same typed array kinds in the same places (a Float32Array where the JS loop made one). */
function sameKinds(a: unknown, b: unknown): boolean {
  if (a instanceof NumericData || b instanceof NumericData)
    return (
      a instanceof NumericData && b instanceof NumericData && a.values.constructor === b.values.constructor
    )
  if (Array.isArray(a) && Array.isArray(b)) return a.every((x, i) => sameKinds(x, b[i]))
  if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object')
    return Object.keys(a).every((k) =>
      sameKinds((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]),
    )
  return true
}

/** A JSON number as text, from JSON's grammar, weighted towards the 15 to 20 significant digits of printed floats. */
const numberText = fc
  .tuple(
    fc.boolean(),
    fc.oneof(fc.constant('0'), fc.stringMatching(/^[1-9][0-9]{0,24}$/)),
    fc.option(fc.stringMatching(/^[0-9]{1,24}$/), { nil: undefined }),
    fc.option(
      fc.tuple(fc.constantFrom('e', 'E'), fc.constantFrom('', '+', '-'), fc.integer({ min: 0, max: 340 })),
      {
        nil: undefined,
      },
    ),
  )
  .map(
    ([negative, int, frac, exp]) =>
      `${negative ? '-' : ''}${int}${frac !== undefined ? `.${frac}` : ''}${exp ? `${exp[0]}${exp[1]}${exp[2]}` : ''}`,
  )

describe('parseJsonTensors against JSON.parse (secure-json-parse)', () => {
  it('reads every printed double and float32 in a data array to the same bits', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.double({ noNaN: true, noDefaultInfinity: true }),
            fc.float({ noNaN: true, noDefaultInfinity: true }),
          ),
          {
            minLength: 1,
            maxLength: 200,
          },
        ),
        (values) => {
          const bytes = utf8(
            JSON.stringify({
              inputs: [{ name: 'x', datatype: 'FP32', shape: [values.length], data: values }],
            }),
          )
          const parsed = parseJsonTensors(bytes) as { inputs: Array<{ data: NumericData }> }
          expect(parsed.inputs[0]?.data).toBeInstanceOf(NumericData)
          expect(parsed.inputs[0]?.data.values).toBeInstanceOf(Float32Array)
          agree(bytes)
          // The same numbers as doubles: an FP64 input.
          agree(utf8(JSON.stringify({ inputs: [{ datatype: 'FP64', data: values }] })))
        },
      ),
      { numRuns: 2000 },
    )
  })

  it("reads FP32 bodies joined from any chunks into the scanner's memory as Math.fround of JSON.parse", () => {
    // The JSON thread's way for real: socket chunks of any sizes, a longer body's bytes left in the memory.
    fc.assert(
      fc.property(
        fc.array(fc.float({ noNaN: true, noDefaultInfinity: true }), { minLength: 1, maxLength: 3000 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        fc.constantFrom('', ' ', '\n  '),
        (values, cuts, space) => {
          const text = `{"inputs":[{"datatype":"FP32","shape":[${values.length}],"data":[${space}${values
            .map((v) => JSON.stringify(v))
            .join(`,${space}`)}${space}]}]}`
          const bytes = utf8(text)
          const at = [...new Set(cuts.map((c) => c % bytes.length))].sort((x, y) => x - y)
          const chunks = [0, ...at].map((from, i) => bytes.slice(from, at[i] ?? bytes.length))
          const joined = scanner.join({ chunks, length: bytes.length })
          const data = (parseJsonTensors(joined, scanner) as { inputs: Array<{ data: NumericData }> })
            .inputs[0]?.data.values
          expect(data).toBeInstanceOf(Float32Array)
          expect(
            same(
              Array.from(data ?? []),
              values.map((v) => Math.fround(JSON.parse(JSON.stringify(v)))),
            ),
          ).toBe(true)
        },
      ),
      { numRuns: 1000 },
    )
  })

  it('reads every number JSON allows (any digits, any exponent) to the same bits', () => {
    fc.assert(
      fc.property(fc.array(numberText, { minLength: 1, maxLength: 20 }), (numbers) => {
        agree(utf8(`{"inputs":[{"data":[${numbers.join(',')}]}],"n":${numbers[0]}}`))
      }),
      { numRuns: 20_000 },
    )
  })

  it('gives any JSON document the same value', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), (value) => {
        agree(utf8(JSON.stringify(value)))
        agree(utf8(JSON.stringify({ inputs: [{ data: value }, value], data: value })))
        agree(utf8(JSON.stringify(value, null, 2)))
      }),
      { numRuns: 3000 },
    )
  })

  it('reads every number JSON allows into an FP32 input as Math.fround of JSON.parse', () => {
    fc.assert(
      fc.property(fc.array(numberText, { minLength: 1, maxLength: 20 }), (numbers) => {
        agree(
          utf8(`{"inputs":[{"datatype":"FP32","shape":[${numbers.length}],"data":[${numbers.join(',')}]}]}`),
        )
        agree(utf8(`{"inputs":[{"datatype":"FP32","data":[ ${numbers.join(' , ')} ]}]}`))
      }),
      { numRuns: 20_000 },
    )
  })

  it('rounds numbers at and next to a midpoint between two float32s as Math.fround of JSON.parse does', () => {
    // The fast float32 path decides only far from a midpoint; at one, and a digit away, the exact path must.
    const bits = new Uint32Array(1)
    const asFloat = new Float32Array(bits.buffer)
    fc.assert(
      fc.property(
        // Any float32, and mostly those between 1e-6 and 1e6, which print without an exponent.
        fc.oneof(fc.integer({ min: 1, max: 0x7f7ffffe }), fc.integer({ min: 0x358637bd, max: 0x49742400 })),
        fc.boolean(),
        fc.integer({ min: 9, max: 25 }),
        (pattern, negative, precision) => {
          bits[0] = pattern
          const low = asFloat[0] as number
          bits[0] = pattern + 1
          const midpoint = (low + (asFloat[0] as number)) / 2 // exact in double
          for (const text of [
            midpoint.toPrecision(precision),
            String(midpoint),
            midpoint.toExponential(precision),
          ]) {
            agree(utf8(`{"inputs":[{"datatype":"FP32","data":[${negative ? '-' : ''}${text}]}]}`))
          }
        },
      ),
      { numRuns: 20_000 },
    )
    for (const text of [
      '1.000000059604644775390625',
      '1.0000000596046447753906',
      '1.00000005960464477539063',
    ]) {
      agree(utf8(`{"inputs":[{"datatype":"FP32","data":[${text},-${text}]}]}`))
    }
  })

  it('reads FP32 data as float32 only when the datatype comes first and stays FP32', () => {
    const values = (text: string) =>
      (parseJsonTensors(utf8(text)) as { inputs: Array<{ data: NumericData }> }).inputs[0]?.data.values
    expect(values('{"inputs":[{"datatype":"FP32","shape":[2],"data":[0.1,2]}]}')).toBeInstanceOf(Float32Array)
    expect(values('{"inputs":[{"data":[0.1,2],"datatype":"FP32"}]}')).toBeInstanceOf(Float64Array)
    expect(values('{"inputs":[{"datatype":"FP64","data":[0.1,2]}]}')).toBeInstanceOf(Float64Array)
    // A second datatype after the data: JSON.parse keeps the last, so the numbers are doubles after all.
    const changed = '{"inputs":[{"datatype":"FP32","data":[0.1,1e-50],"datatype":"FP64"}]}'
    expect(Array.from(values(changed) ?? [])).toEqual([0.1, 1e-50])
    agree(utf8(changed))
    agree(utf8('{"inputs":[{"datatype":"FP32","data":[0.1],"data":"x","datatype":"FP64"}]}'))
    agree(utf8('{"inputs":[{"datatype":"FP32","data":[0.1],"data":[0.2,0.3]}]}'))
    // The shape sizes the array when it can be right; the data decides the length either way.
    expect(values('{"inputs":[{"datatype":"FP32","shape":[4],"data":[1,2,3]}]}')?.length).toBe(3)
    expect(values('{"inputs":[{"datatype":"FP32","shape":[2],"data":[1,2,3,4,5]}]}')?.length).toBe(5)
    const huge = values('{"inputs":[{"datatype":"FP32","shape":[100000000000],"data":[1]}]}')
    expect(huge?.length).toBe(1)
    expect(huge?.buffer.byteLength).toBe(4)
    for (const text of [
      '{"inputs":[{"datatype":"FP32","data":[1,2,true]}]}',
      '{"inputs":[{"datatype":"FP32","data":[[1,2],[3,4]]}]}',
      '{"inputs":[{"datatype":"FP32","shape":[3],"data":[1e2,-0,0.0000001,1E-45,3.5e38,1e39]}]}',
      '{"inputs":[{"datatype":"FP32","data":[1,]}]}',
      '{"inputs":[{"datatype":"FP32","data":[1 2]}]}',
      '{"inputs":[{"datatype":"FP32","data":[01]}]}',
      '{"inputs":[{"datatype":"FP32","data":[1.]}]}',
      '{"inputs":[{"datatype":"FP32","data":[-]}]}',
      '{"inputs":[{"datatype":"FP32","data":[-0.]}]}',
      '{"inputs":[{"datatype":"FP32","data":[0.1234567890123456789012345]}]}',
      '{"inputs":[{"datatype":"FP32","data":[12345678901234567890.5]}]}',
      '{"inputs":[{"datatype":"FP32","data":[0.1,0.2',
    ]) {
      agree(utf8(text))
    }
  })

  it('refuses what JSON.parse refuses: random byte edits of valid bodies', () => {
    const body = fc.oneof(
      fc
        .jsonValue({ maxDepth: 3 })
        .map((v) => `{"inputs":[{"data":[1.5,-2e-7,0.1234567890123456789]}],"v":${JSON.stringify(v)}}`),
      fc
        .array(fc.float({ noNaN: true, noDefaultInfinity: true }), { maxLength: 8 })
        .map((d) => JSON.stringify({ inputs: [{ data: d }] })),
      fc
        .array(fc.float({ noNaN: true, noDefaultInfinity: true }), { maxLength: 8 })
        .map((d) => JSON.stringify({ inputs: [{ datatype: 'FP32', shape: [d.length], data: d }] })),
    )
    const edit = fc.tuple(
      fc.nat(),
      fc.constantFrom('delete', 'insert', 'replace'),
      fc.constantFrom(...'{}[]",:.-+eE0123456789 \t\n\\/ntfu\u0000x\u00ff'.split('')),
    )
    fc.assert(
      fc.property(body, fc.array(edit, { minLength: 1, maxLength: 3 }), (text, edits) => {
        let bytes = Buffer.from(text, 'utf8')
        for (const [at, kind, char] of edits) {
          const i = bytes.length === 0 ? 0 : at % bytes.length
          const c = Buffer.from(char, 'latin1')
          if (kind === 'delete') bytes = Buffer.concat([bytes.subarray(0, i), bytes.subarray(i + 1)])
          else if (kind === 'insert') bytes = Buffer.concat([bytes.subarray(0, i), c, bytes.subarray(i)])
          else bytes = Buffer.concat([bytes.subarray(0, i), c, bytes.subarray(i + 1)])
        }
        agree(new Uint8Array(bytes))
      }),
      { numRuns: 20_000 },
    )
  })

  it('refuses prototype poisoning as Fastify does, escaped or not', () => {
    for (const text of [
      '{"__proto__":{"x":1}}',
      '{"a":{"__proto__":[]}}',
      '{"\\u005f_proto__":1}',
      '{"constructor":{"prototype":{"x":1}}}',
      '{"inputs":[{"constructor":{"prototype":null}}]}',
    ]) {
      expect(() => reference(utf8(text))).toThrow()
      expect(() => parseJsonTensors(utf8(text))).toThrow(/forbidden prototype property/)
    }
    // A `constructor` that is not an object with `prototype` is data like any other.
    agree(utf8('{"constructor":"x","inputs":[{"data":[1,2]}]}'))
    agree(utf8('{"constructor":{"proto":1}}'))
  })

  it('refuses what is not JSON at all, and edge numbers', () => {
    for (const text of [
      '',
      ' ',
      '\uFEFF{}',
      '{"inputs":[{"data":[1,]}]}',
      '{"inputs":[{"data":[01]}]}',
      '{"inputs":[{"data":[1.]}]}',
      '{"inputs":[{"data":[.5]}]}',
      '{"inputs":[{"data":[-]}]}',
      '{"inputs":[{"data":[1e]}]}',
      '{"inputs":[{"data":[+1]}]}',
      '{"inputs":[{"data":[NaN]}]}',
      '{"inputs":[{"data":[Infinity]}]}',
      '{"inputs":[{"data":[1 2]}]}',
      '{"a":1}x',
      '"\u0001"',
      '{"inputs":[{"data":[1,2]}',
      '[1]]',
    ]) {
      agree(utf8(text))
    }
    for (const text of [
      '1e400',
      '-1e400',
      '4.9e-324',
      '2.2250738585072011e-308',
      '9007199254740993',
      '0.1',
      '-0',
      '-0.0e-0',
      '123456789012345678901234567890',
      '1.00000000000000011102230246251565404236316680908203125',
      '0.000000000000000000000000001',
    ]) {
      agree(utf8(`{"inputs":[{"data":[${text}]}],"x":${text}}`))
    }
  })

  it("reads only inputs' data as numbers; nested, mixed and other data arrays stay arrays", () => {
    const first = (text: string) =>
      (parseJsonTensors(utf8(text)) as { inputs: Array<{ data: unknown }> }).inputs[0]?.data
    expect(first('{"inputs":[{"data":[[1,2],[3,4]]}]}')).toEqual([
      [1, 2],
      [3, 4],
    ])
    expect(first('{"inputs":[{"data":[1,true,"2"]}]}')).toEqual([1, true, '2'])
    expect((first('{"inputs":[{"data":[]}]}') as NumericData).length).toBe(0)
    const elsewhere = parseJsonTensors(
      utf8('{"data":[1],"outputs":[{"data":[2]}],"inputs":[{"x":{"data":[3]}}]}'),
    )
    expect(elsewhere).toEqual({ data: [1], outputs: [{ data: [2] }], inputs: [{ x: { data: [3] } }] })
  })
})
