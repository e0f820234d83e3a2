// A JSON parser for infer request bodies that turns the big part of them, the tensors' `data` arrays, straight
// into numbers in a Float64Array, without building a JS array of 300 000 numbers first (JSON.parse does, and
// Float32Array.from then walks it again). Everything else comes out exactly as JSON.parse would give it, and
// every input JSON.parse rejects is rejected, with Fastify's prototype-poisoning rules on top (secure-json-parse
// with protoAction and constructorAction 'error'). test/fuzz/json-tensor-parser.fuzz.test.ts holds it to that.
//
// No library does this here: the simdjson bindings on npm build with node-gyp at install (refused: no build
// scripts) or ship only C++ sources, and they return JS arrays anyway.
//
// Numbers in `data` arrays are converted from their digits with exact arithmetic: up to 16 significant digits
// (and a value below 2^53) by one correctly rounded multiplication or division by an exact power of ten
// (Clinger's fast path); up to 19 digits (what float32 values printed by JSON.stringify or Python need) in
// double-double arithmetic, which decides the rounding unless the value lies within 2^-40 of a tie between two
// doubles; anything else, and those rare near-ties, by Number() of the text, as JSON.parse does.
//
// An input that declares `"datatype": "FP32"` before its `data` (every client seen does) gets its numbers as
// float32 straight away, into a Float32Array of the size its shape gives: each is Math.fround of what JSON.parse
// reads. That needs no exact double: the digits are read in plain double arithmetic (a few ulps off at most),
// and the float32 is taken when the whole error interval around that rounds to the same float32 (rounding is
// monotonic); only a value within 2^-44 of a midpoint between two float32s goes the exact way above.
//
// A body joined into a Float32Scanner's WebAssembly memory (the JSON thread's big bodies) has those float32
// elements read by the scanner's loop instead (float32-scanner.wat: the same contract, native i64 digits, 16 at a
// time), written straight into the memory and copied out once the array ends.
import type { Float32Scanner } from './float32-scanner.js'

/**
 * A flat array of numbers found as an input's `data` (`inputs[i].data` of an infer request): its values, in
 * order, as JSON.parse would read them (a Float64Array, a view whose buffer may be longer), or, for an input
 * whose datatype is FP32, Math.fround of those (a Float32Array of its own, exactly as long as the data).
 */
export class NumericData {
  constructor(readonly values: Float64Array | Float32Array) {}
  /** How many numbers. */
  get length(): number {
    return this.values.length
  }
}

const SPACE = 0x20
const TAB = 0x09
const LF = 0x0a
const CR = 0x0d
const QUOTE = 0x22
const BACKSLASH = 0x5c
const COMMA = 0x2c
const COLON = 0x3a
const MINUS = 0x2d
const PLUS = 0x2b
const DOT = 0x2e
const ZERO = 0x30
const NINE = 0x39
const LOWER_E = 0x65
const UPPER_E = 0x45
const OPEN_BRACE = 0x7b
const CLOSE_BRACE = 0x7d
const OPEN_BRACKET = 0x5b
const CLOSE_BRACKET = 0x5d

const POW10 = Array.from({ length: 23 }, (_, i) => 10 ** i) // exact up to 1e22
/** Decimal exponents the float32 path scales by: any float32, printed, lies well inside. */
const FLOAT32_EXPONENTS = 200
/** 10^i correctly rounded (as the JSON grammar reads `1e${i}`), exact up to 1e22. */
const POW10_ROUNDED = Float64Array.from({ length: FLOAT32_EXPONENTS + 1 }, (_, i) => Number(`1e${i}`))
/**
 * How far (relative) the float32 path's double may be from the exact value, with room to spare: the digits'
 * rounding (two operations), a rounded power of ten and the scaling are under 2^-50 together.
 */
const FLOAT32_MARGIN = 2 ** -44
const TWO_53 = 2 ** 53
/** Veltkamp's splitter for 53-bit doubles: 2^27 + 1. */
const SPLITTER = 134217729
const FORBIDDEN = 'Object contains forbidden prototype property'

/**
 * Parses UTF-8 JSON `bytes` as `secureJson.parse(text, { protoAction: 'error', constructorAction: 'error' })`
 * would, except that `inputs[i].data`, when it is a flat array of numbers, comes back as {@link NumericData}.
 * Throws SyntaxError for anything JSON.parse rejects and for `__proto__` keys and `constructor.prototype`.
 * With the `scanner` that `bytes` were joined into, FP32 data is read by its WebAssembly loop (same result).
 */
export function parseJsonTensors(bytes: Uint8Array, scanner?: Float32Scanner): unknown {
  return new JsonTensorParser(bytes, scanner?.holds(bytes) ? scanner : null).parseDocument()
}

/** Where a value sits, for the two places that are read differently: the document, and an entry of its `inputs`. */
enum Place {
  Anywhere,
  Document,
  Input,
}

class JsonTensorParser {
  #pos = 0
  /** The body as a Buffer view (one kind of byte array everywhere: monomorphic loads), also read as text. */
  readonly #bytes: Buffer
  /** The same bytes, for reading four digits at once. */
  readonly #view: DataView
  /** The scanner whose memory holds the bytes, or null (the JS loop reads FP32 data). */
  readonly #scanner: Float32Scanner | null

  constructor(bytes: Uint8Array, scanner: Float32Scanner | null) {
    this.#bytes = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    this.#scanner = scanner
  }

  parseDocument(): unknown {
    // secure-json-parse drops a leading byte order mark before JSON.parse sees the text; so does this.
    const b = this.#bytes
    if (b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf) this.#pos = 3
    this.#skipSpace()
    const value = this.#value(Place.Document)
    this.#skipSpace()
    if (this.#pos < this.#bytes.length) this.#unexpected()
    return value
  }

  #skipSpace(): void {
    const b = this.#bytes
    let p = this.#pos
    while (p < b.length) {
      const c = b[p] as number
      if (c !== SPACE && c !== LF && c !== CR && c !== TAB) break
      p++
    }
    this.#pos = p
  }

  #unexpected(): never {
    if (this.#pos >= this.#bytes.length) throw new SyntaxError('Unexpected end of JSON input')
    const c = this.#bytes[this.#pos] as number
    const shown = c >= 0x20 && c < 0x7f ? `'${String.fromCharCode(c)}'` : `byte 0x${c.toString(16)}`
    throw new SyntaxError(`Unexpected token ${shown} in JSON at position ${this.#pos}`)
  }

  #value(place: Place = Place.Anywhere): unknown {
    const c = this.#bytes[this.#pos]
    switch (c) {
      case OPEN_BRACE:
        return this.#object(place)
      case OPEN_BRACKET:
        return this.#array(Place.Anywhere)
      case QUOTE:
        return this.#string()
      case 0x74: // t
        return this.#literal('true', true)
      case 0x66: // f
        return this.#literal('false', false)
      case 0x6e: // n
        return this.#literal('null', null)
      default:
        if (c === MINUS || (c !== undefined && c >= ZERO && c <= NINE)) return this.#number()
        return this.#unexpected()
    }
  }

  #literal<T>(word: string, value: T): T {
    for (let k = 0; k < word.length; k++) {
      if (this.#bytes[this.#pos] !== word.charCodeAt(k)) this.#unexpected()
      this.#pos++
    }
    return value
  }

  #object(place: Place): Record<string, unknown> {
    const out: Record<string, unknown> = {}
    // Where the last `data` of an input read as float32 began: read again as doubles if its datatype changes.
    let float32DataAt = -1
    this.#pos++ // {
    this.#skipSpace()
    if (this.#bytes[this.#pos] === CLOSE_BRACE) {
      this.#pos++
      return out
    }
    for (;;) {
      if (this.#bytes[this.#pos] !== QUOTE) this.#unexpected()
      const key = this.#string()
      // JSON.parse would make it an own property; assigning it would set the prototype. Fastify refuses both.
      if (key === '__proto__') throw new SyntaxError(FORBIDDEN)
      this.#skipSpace()
      if (this.#bytes[this.#pos] !== COLON) this.#unexpected()
      this.#pos++
      this.#skipSpace()
      const c0 = this.#bytes[this.#pos]
      if (place === Place.Input && key === 'data') float32DataAt = -1
      if (place === Place.Input && key === 'data' && c0 === OPEN_BRACKET) {
        const float32 = out.datatype === 'FP32'
        const at = this.#pos
        const data = this.#dataArray(float32, float32 ? declaredCount(out.shape) : -1)
        if (float32 && data instanceof NumericData) float32DataAt = at
        out[key] = data
      } else if (place === Place.Document && key === 'inputs' && c0 === OPEN_BRACKET)
        out[key] = this.#array(Place.Input)
      else out[key] = this.#value()
      this.#skipSpace()
      const c = this.#bytes[this.#pos]
      this.#pos++
      if (c === COMMA) {
        this.#skipSpace()
        continue
      }
      if (c === CLOSE_BRACE) break
      this.#pos--
      this.#unexpected()
    }
    const ctor = Object.hasOwn(out, 'constructor') ? out.constructor : undefined
    if (typeof ctor === 'object' && ctor !== null && Object.hasOwn(ctor, 'prototype'))
      throw new SyntaxError(FORBIDDEN)
    if (float32DataAt >= 0 && out.datatype !== 'FP32') {
      // A second `datatype` after the data (JSON.parse keeps the last): the numbers as doubles after all.
      const end = this.#pos
      this.#pos = float32DataAt
      out.data = this.#dataArray(false, -1)
      this.#pos = end
    }
    return out
  }

  /** An array; with `Place.Input` its entries are read as inputs (objects whose `data` may be NumericData). */
  #array(entries: Place): unknown[] {
    const out: unknown[] = []
    this.#pos++ // [
    this.#skipSpace()
    if (this.#bytes[this.#pos] === CLOSE_BRACKET) {
      this.#pos++
      return out
    }
    for (;;) {
      out.push(this.#value(entries))
      this.#skipSpace()
      const c = this.#bytes[this.#pos]
      this.#pos++
      if (c === COMMA) {
        this.#skipSpace()
        continue
      }
      if (c === CLOSE_BRACKET) return out
      this.#pos--
      this.#unexpected()
    }
  }

  /**
   * A `data` array: numbers straight into a Float64Array, or with `float32` into a Float32Array (`expected`: the
   * count the input's shape declares, or -1); anything else in it (nested, booleans) as #array.
   */
  #dataArray(float32: boolean, expected: number): NumericData | unknown[] {
    const b = this.#bytes
    const view = this.#view
    const start = this.#pos
    this.#pos++ // [
    this.#skipSpace()
    let p = this.#pos
    if (b[p] === CLOSE_BRACKET) {
      this.#pos = p + 1
      return new NumericData(float32 ? new Float32Array(0) : new Float64Array(0))
    }
    // Every number takes two bytes at least ("0,"): a declared count beyond that cannot be right, and must not
    // allocate. Otherwise room for the numbers the rest of the body likely holds (printed floats take 16 to 20
    // bytes); grown if needed.
    const room = (b.length - p + 1) >> 1
    let values: Float64Array | Float32Array
    const size = expected >= 1 && expected <= room ? expected : (room >> 3) + 16
    // In the scanner's memory when it has room (the WebAssembly loop writes only there), else of its own; so is
    // a grown array, which the JS loop fills from then on.
    const inScanner = float32 ? (this.#scanner?.output(size) ?? null) : null
    const scanner = inScanner === null ? null : this.#scanner
    const scannerMemory = inScanner === null ? null : inScanner.buffer
    if (inScanner !== null) values = inScanner
    else if (float32) values = new Float32Array(size)
    else values = new Float64Array(((b.length - p) >> 4) + 16)
    let n = 0
    // The loop keeps its position in a local (no field traffic per number): this is where big bodies spend
    // their time.
    for (;;) {
      if (float32 && scanner !== null && values.buffer === scannerMemory) {
        // As many elements as the WebAssembly loop takes; then one here, whatever it is, and on.
        p = scanner.read(p, values as Float32Array, n)
        n = scanner.count
        if (scanner.ended) break
      } else if (float32) {
        // As many elements as the fast reader takes; then one here, whatever it is, and on.
        p = readFloat32Elements(b, view, p, values as Float32Array, n)
        n = float32Count
        if (float32Ended) break
      }
      const c = b[p]
      if (c !== MINUS && (c === undefined || c < ZERO || c > NINE)) {
        this.#pos = start
        return this.#array(Place.Anywhere)
      }
      if (n === values.length) {
        const grown = float32 ? new Float32Array(values.length * 2) : new Float64Array(values.length * 2)
        grown.set(values)
        values = grown
      }
      p = scanNumber(b, view, p, float32, values, n)
      if (p < 0) this.#failAt(~p)
      n++
      let next = b[p]
      while (next === SPACE || next === LF || next === CR || next === TAB) next = b[++p]
      if (next === COMMA) {
        next = b[++p]
        while (next === SPACE || next === LF || next === CR || next === TAB) next = b[++p]
        continue
      }
      if (next === CLOSE_BRACKET) {
        p++
        break
      }
      this.#failAt(p)
    }
    this.#pos = p
    // A float32 array becomes the tensor itself: exactly its length, in a buffer of its own (out of the
    // scanner's memory, which the next body reuses).
    if (float32)
      return new NumericData(
        n === values.length && values.buffer !== scannerMemory ? values : values.slice(0, n),
      )
    return new NumericData(values.subarray(0, n))
  }

  #string(): string {
    const b = this.#bytes
    const start = ++this.#pos // past the opening quote
    let p = start
    let escaped = false
    for (;;) {
      if (p >= b.length) {
        this.#pos = p
        this.#unexpected()
      }
      const c = b[p] as number
      if (c === QUOTE) break
      if (c === BACKSLASH) {
        escaped = true
        p += 2
        continue
      }
      if (c < 0x20) {
        this.#pos = p
        this.#unexpected()
      }
      p++
    }
    this.#pos = p + 1
    // The bytes decode as the whole body would (invalid UTF-8 becomes U+FFFD, as Buffer#toString does); escapes
    // are JSON.parse's own, so every accepted and every refused escape matches it.
    const raw = this.#bytes.toString('utf8', start, p)
    return escaped ? (JSON.parse(`"${raw}"`) as string) : raw
  }

  /** One number, checked against JSON's grammar; its value is the double JSON.parse gives for the same text. */
  #number(): number {
    const end = scanNumber(this.#bytes, this.#view, this.#pos, false, LONE_NUMBER, 0)
    if (end < 0) this.#failAt(~end)
    this.#pos = end
    return LONE_NUMBER[0] as number
  }

  #failAt(p: number): never {
    this.#pos = p
    return this.#unexpected()
  }
}

/** Where #number has scanNumber put a lone number's value. */
const LONE_NUMBER = new Float64Array(1)

/**
 * Four ASCII digits at `p`, as the number they spell, or -1 when any of the four bytes is not a digit
 * (read little-endian: the first digit is the lowest byte).
 */
function fourDigits(view: DataView, p: number): number {
  const v = view.getUint32(p, true)
  // Each byte is 0x30..0x39 exactly when its high nibble is 3 and adding 6 keeps it so (no carries otherwise).
  if (((v & 0xf0f0f0f0) | (((v + 0x06060606) & 0xf0f0f0f0) >>> 4)) !== 0x33333333) return -1
  const t = v - 0x30303030
  const pairs = (t * 10 + (t >>> 8)) & 0x00ff00ff
  return (pairs & 0xff) * 100 + (pairs >>> 16)
}

/** How many elements the data array holds after readFloat32Elements (module variables: no object per call). */
let float32Count = 0
/** Whether readFloat32Elements read the array to its closing bracket. */
let float32Ended = false

/**
 * The hot loop of big bodies: reads the elements of a float32 data array from `start` (an element's start) into
 * `out` from index `n`, as long as they take the shape printed floats take, `-?(0|[1-9][0-9]{0,14})(\.[0-9]{1,19})?`
 * (at most 19 significant digits, no exponent), with the separators between them, until the closing bracket
 * (`float32Ended`) or `out` is full. Returns where it stopped: past the bracket, or the start of an element it
 * leaves to scanNumber (other shapes, errors, a value near a float32 midpoint), which has the whole grammar and
 * the exact conversion. The count so far is in `float32Count`.
 */
function readFloat32Elements(b: Buffer, view: DataView, start: number, out: Float32Array, n: number): number {
  const length = b.length
  let p = start
  float32Ended = false
  while (n < out.length) {
    const first = p
    let c = b[p]
    const negative = c === MINUS
    if (negative) c = b[++p]
    let hi = 0
    let digits = 0
    let exponent = 0
    if (c === ZERO) c = b[++p]
    else if (c !== undefined && c >= 0x31 && c <= NINE) {
      while (c !== undefined && c >= ZERO && c <= NINE && digits < 15) {
        hi = hi * 10 + (c - ZERO)
        digits++
        c = b[++p]
      }
    } else return stop(first, n)
    let lo = 0
    let loDigits = 0
    if (c === DOT) {
      const fraction = ++p
      c = b[p]
      if (digits === 0) {
        while (c === ZERO) {
          exponent--
          c = b[++p]
        }
      }
      while (digits <= 11 && p + 4 <= length) {
        const four = fourDigits(view, p)
        if (four < 0) break
        hi = hi * 10_000 + four
        digits += 4
        exponent -= 4
        p += 4
      }
      c = b[p]
      while (c !== undefined && c >= ZERO && c <= NINE && digits < 15) {
        hi = hi * 10 + (c - ZERO)
        digits++
        exponent--
        c = b[++p]
      }
      if (digits === 15 && p + 4 <= length) {
        const four = fourDigits(view, p)
        if (four >= 0) {
          lo = four
          loDigits = 4
          exponent -= 4
          p += 4
          c = b[p]
        }
      }
      while (c !== undefined && c >= ZERO && c <= NINE && loDigits < 4) {
        lo = lo * 10 + (c - ZERO)
        loDigits++
        exponent--
        c = b[++p]
      }
      if (p === fraction) return stop(first, n)
    }
    if ((c !== undefined && c >= ZERO && c <= NINE) || c === LOWER_E || c === UPPER_E || c === DOT)
      return stop(first, n)
    if (digits + loDigits === 0) out[n] = negative ? -0 : 0
    else {
      if (exponent < -FLOAT32_EXPONENTS) return stop(first, n)
      const m = loDigits === 0 ? hi : hi * (POW10[loDigits] as number) + lo
      const x = m / (POW10_ROUNDED[-exponent] as number)
      const margin = x * FLOAT32_MARGIN
      const low = Math.fround(x - margin)
      if (low !== Math.fround(x + margin)) return stop(first, n)
      out[n] = negative ? -low : low
    }
    n++
    while (c === SPACE || c === LF || c === CR || c === TAB) c = b[++p]
    if (c === CLOSE_BRACKET) {
      float32Ended = true
      return stop(p + 1, n)
    }
    if (c !== COMMA) return stop(first, n - 1)
    c = b[++p]
    while (c === SPACE || c === LF || c === CR || c === TAB) c = b[++p]
  }
  return stop(p, n)
}

/** readFloat32Elements' way out: the count read, and where it stopped. */
function stop(p: number, n: number): number {
  float32Count = n
  return p
}

/**
 * Reads the number that starts at `b[start]`, checked against JSON's grammar, into `out[at]`: the double
 * JSON.parse gives for the same text, or with `float32` (`out` a Float32Array) one that rounds to the same
 * float32 as that one. Returns where the number ends, or ~p for the offending byte at p. (Stored here, not
 * returned: a double returned from a call is boxed, an object per number.)
 */
function scanNumber(
  b: Buffer,
  view: DataView,
  start: number,
  float32: boolean,
  out: Float64Array | Float32Array,
  at: number,
): number {
  let p = start
  const negative = b[p] === MINUS
  if (negative) p++
  // Significant digits: the first 15 in `hi`, up to 4 more in `lo` (`loDigits` of them); more than 19 go to Number().
  let hi = 0
  let lo = 0
  let loDigits = 0
  let digits = 0
  let exponent = 0
  let c = b[p]
  if (c === ZERO) {
    c = b[++p]
    if (c !== undefined && c >= ZERO && c <= NINE) return ~p
  } else if (c !== undefined && c >= 0x31 && c <= NINE) {
    while (c !== undefined && c >= ZERO && c <= NINE) {
      if (digits < 15) hi = hi * 10 + (c - ZERO)
      else if (digits < 19) {
        lo = lo * 10 + (c - ZERO)
        loDigits++
      } else exponent++
      digits++
      c = b[++p]
    }
  } else return ~p
  if (c === DOT) {
    c = b[++p]
    if (c === undefined || c < ZERO || c > NINE) return ~p
    if (digits === 0) {
      // Leading zeros of 0.000123.
      while (c === ZERO) {
        exponent--
        c = b[++p]
      }
    }
    // Printed floats have 16 to 19 digits: four at a time while they go to `hi`, then four to `lo`.
    while (digits <= 11 && p + 4 <= b.length) {
      const four = fourDigits(view, p)
      if (four < 0) break
      hi = hi * 10_000 + four
      digits += 4
      exponent -= 4
      p += 4
    }
    c = b[p]
    while (c !== undefined && c >= ZERO && c <= NINE) {
      if (digits < 15) hi = hi * 10 + (c - ZERO)
      else if (digits < 19) {
        if (loDigits === 0 && p + 4 <= b.length) {
          const four = fourDigits(view, p)
          if (four >= 0) {
            lo = four
            loDigits = 4
            digits += 4
            exponent -= 4
            p += 4
            c = b[p]
            continue
          }
        }
        lo = lo * 10 + (c - ZERO)
        loDigits++
      }
      if (digits < 19) exponent--
      digits++
      c = b[++p]
    }
  }
  if (c === LOWER_E || c === UPPER_E) {
    c = b[++p]
    let expNegative = false
    if (c === PLUS || c === MINUS) {
      expNegative = c === MINUS
      c = b[++p]
    }
    if (c === undefined || c < ZERO || c > NINE) return ~p
    let e = 0
    while (c !== undefined && c >= ZERO && c <= NINE) {
      if (e < 100_000) e = e * 10 + (c - ZERO)
      c = b[++p]
    }
    exponent += expNegative ? -e : e
  }
  if (digits === 0) {
    out[at] = negative ? -0 : 0
    return p
  }
  if (float32 && exponent >= -FLOAT32_EXPONENTS && exponent <= FLOAT32_EXPONENTS) {
    const m = loDigits === 0 ? hi : hi * (POW10[loDigits] as number) + lo
    const x =
      exponent >= 0 ? m * (POW10_ROUNDED[exponent] as number) : m / (POW10_ROUNDED[-exponent] as number)
    const margin = x * FLOAT32_MARGIN
    const low = Math.fround(x - margin)
    if (low === Math.fround(x + margin)) {
      out[at] = negative ? -low : low
      return p
    }
  }
  let value: number
  if (digits <= 19 && exponent >= -22 && exponent <= 22) {
    value = decimalToDouble(hi, lo, loDigits, exponent)
    if (Number.isNaN(value)) value = Number(b.toString('latin1', start, p))
    else if (negative) value = -value
  } else {
    value = Number(b.toString('latin1', start, p))
  }
  out[at] = value
  return p
}

/** The element count a `shape` value declares, when it is a list of non-negative integers; else -1. */
function declaredCount(shape: unknown): number {
  if (!Array.isArray(shape)) return -1
  let count = 1
  for (const dim of shape) {
    if (typeof dim !== 'number' || !Number.isSafeInteger(dim) || dim < 0) return -1
    count *= dim
  }
  return Number.isSafeInteger(count) ? count : -1
}

/**
 * hi·10^loDigits + lo, times 10^exponent (|exponent| ≤ 22, hi < 10^15, lo < 10^4), rounded to the nearest
 * double (ties to even) as strtod would; NaN when that cannot be decided here (a near-tie), for the caller's
 * exact fallback.
 */
function decimalToDouble(hi: number, lo: number, loDigits: number, exponent: number): number {
  if (loDigits === 0 || (loDigits === 1 && hi * 10 + lo <= TWO_53)) {
    // Clinger: an exact integer mantissa and an exact power of ten, one correctly rounded operation.
    const m = loDigits === 0 ? hi : hi * 10 + lo
    if (m <= TWO_53) return exponent >= 0 ? m * (POW10[exponent] as number) : m / (POW10[-exponent] as number)
  }
  // The mantissa exactly as a double-double (a + b): hi·10^k exactly by TwoProduct, then + lo by TwoSum.
  const p = twoProduct(hi, POW10[loDigits] as number)
  const pe = productError
  const s = p + lo
  const bb = s - p
  const se = p - (s - bb) + (lo - bb)
  let a = s
  let b = pe + se // both small integers: exact
  const t = a + b
  b = b - (t - a)
  a = t
  let result: number
  let residual: number
  if (exponent >= 0) {
    const scale = POW10[exponent] as number
    const x = twoProduct(a, scale)
    const tail = productError + b * scale
    result = x + tail
    residual = tail - (result - x)
  } else {
    const scale = POW10[-exponent] as number
    const q1 = a / scale
    const pp = twoProduct(q1, scale)
    // The remainder a + b - q1·scale, exact up to the rounding of the last additions (tiny next to q1's ulp).
    const r = a - pp - productError + b
    const q2 = r / scale
    result = q1 + q2
    residual = q2 - (result - q1)
  }
  // `result` is the nearest double to the double-double sum unless that sum sits at a tie: decide only clearly.
  // Below a power of two the gap to the next double down is half the one up, so its ties sit at a quarter.
  const ulp = ulpOf(result)
  const off = Math.abs(residual)
  const near = ulp * 2 ** -40
  if (Math.abs(off - ulp / 2) <= near || Math.abs(off - ulp / 4) <= near) return Number.NaN
  return result
}

/** The rounding error of the last twoProduct (a module variable: no array per number). */
let productError = 0

/** a·b, with its exact rounding error left in `productError` (Dekker), for |a·b| well inside the double range. */
function twoProduct(a: number, b: number): number {
  const p = a * b
  const ca = SPLITTER * a
  const ah = ca - (ca - a)
  const al = a - ah
  const cb = SPLITTER * b
  const bh = cb - (cb - b)
  const bl = b - bh
  productError = ah * bh - p + ah * bl + al * bh + al * bl
  return p
}

const ulpBuffer = new Float64Array(1)
const ulpWords = new Uint32Array(ulpBuffer.buffer)
/** 2^(e - 1075) for every biased exponent e of a normal double: the spacing of doubles in that binade. */
const SPACING = Float64Array.from({ length: 2047 }, (_, e) => 2 ** (Math.max(e, 1) - 1075))

/** The distance from |x| to the next double up (x normal, as every value decimalToDouble makes is). */
function ulpOf(x: number): number {
  ulpBuffer[0] = x
  return SPACING[((ulpWords[1] as number) >>> 20) & 0x7ff] as number
}
