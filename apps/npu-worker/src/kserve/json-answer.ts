import type { Datatype, TensorArray } from '@npu-fleet/protocol'
import type { Tensor } from '../backends/tensor.js'
import { jsonElements } from './tensor-codec.js'

/** The part of an answer before its outputs. */
export interface AnswerHeader {
  model_name: string
  model_version: string
  id?: string | undefined
}

/** One output written as JSON elements. */
export interface ElementOutput {
  name: string
  tensor: Tensor
}

/** Datatypes whose elements are the typed array's own numbers (no conversion: FP16, BF16, INT64 need one). */
const PLAIN_NUMBERS: ReadonlySet<Datatype> = new Set([
  'FP32',
  'FP64',
  'INT8',
  'INT16',
  'INT32',
  'UINT8',
  'UINT16',
  'UINT32',
])

/**
 * Elements per chunk when choosing how to print a chunk (plainNumbersJson): large enough that the choice
 * costs nothing per element, small enough that the zero regions of a probability map get the fast way.
 */
const CHUNK = 4096

/**
 * The JSON text of an answer whose outputs all go as elements: byte for byte what
 * `JSON.stringify({model_name, model_version, id, outputs: [{name, datatype, shape, data}]})` writes, without
 * building the answer object or a JS array of each output's elements (a 1×1×320×320 FP32 output is 100k
 * numbers: a 0.8 MB array on the heap, then the text).
 */
export function answerJson(header: AnswerHeader, outputs: readonly ElementOutput[]): string {
  let text = `{"model_name":${JSON.stringify(header.model_name)},"model_version":${JSON.stringify(header.model_version)}`
  if (header.id !== undefined) text += `,"id":${JSON.stringify(header.id)}`
  text += ',"outputs":['
  for (let i = 0; i < outputs.length; i++) {
    const { name, tensor } = outputs[i] as ElementOutput
    if (i > 0) text += ','
    // Shapes are whole numbers: join prints them as JSON does.
    text += `{"name":${JSON.stringify(name)},"datatype":"${tensor.datatype}","shape":[${tensor.shape.join(',')}],"data":${elementsJson(tensor)}}`
  }
  return `${text}]}`
}

/** One output's `data` as JSON text: `JSON.stringify(jsonElements(tensor))`, faster where it can be. */
export function elementsJson(tensor: Tensor): string {
  if (tensor.datatype !== 'BYTES' && PLAIN_NUMBERS.has(tensor.datatype)) {
    const text = plainNumbersJson(tensor.data)
    if (text !== null) return text
  }
  return JSON.stringify(jsonElements(tensor))
}

/** `0,` once per element of a chunk: a run of zeros is a slice of it (a view, no per-zero printing). */
const ZEROS = '0,'.repeat(CHUNK)

/**
 * A typed array of numbers as a JSON array, or null when one is not finite (JSON writes `null` for NaN and
 * ±Infinity; the caller then takes JSON.stringify's way). For a finite number JSON.stringify, `String` and
 * `Array.prototype.join` print the same text (Number::toString, -0 as `0`), at different costs, measured on
 * fresh values (join's number-string cache makes repeated values look cheaper than they are): a zero costs
 * join ~14 ns and JSON.stringify ~41, any other number ~250 against ~158. So each chunk of at least 80% zeros
 * (a detector's background) is written as runs of zeros, each a slice of {@link ZEROS}, with `String` of the
 * numbers between them; any other chunk is stringified. A 1×1×320×320 map of 99.99% zeros: ~1.2 → ~0.15 ms.
 */
function plainNumbersJson(data: TensorArray): string | null {
  const n = data.length
  const values = data as Exclude<TensorArray, BigInt64Array | BigUint64Array>
  // One pass: every number finite, and each chunk's count of zeros.
  const zeros = new Array<number>(Math.ceil(n / CHUNK)).fill(0)
  for (let start = 0, c = 0; start < n; start += CHUNK, c++) {
    const end = Math.min(n, start + CHUNK)
    let count = 0
    for (let i = start; i < end; i++) {
      const v = values[i] as number
      // v - v is 0 for every finite number, NaN for NaN and ±Infinity.
      if (v - v !== 0) return null
      if (v === 0) count++
    }
    zeros[c] = count
  }
  // One dense chunk (the common small answer): no slices.
  if (n <= CHUNK && (zeros[0] as number) * 5 < n * 4) return JSON.stringify(numbers(values, 0, n))
  let text = '['
  for (let start = 0, c = 0; start < n; start += CHUNK, c++) {
    const end = Math.min(n, start + CHUNK)
    const count = zeros[c] as number
    if (start > 0) text += ','
    // At least 80% zeros (see above): runs of zeros; all zeros: one slice.
    if (count === end - start) text += ZEROS.slice(0, 2 * count - 1)
    else if (count * 5 >= (end - start) * 4) text += sparseJson(values, start, end)
    else text += JSON.stringify(numbers(values, start, end)).slice(1, -1)
  }
  return `${text}]`
}

/**
 * `values[start..end)` (at most CHUNK, all finite) joined with commas: each run of zeros (-0 too, which prints
 * as `0`) a slice of ZEROS, each other number its `String`.
 */
function sparseJson(values: ArrayLike<number>, start: number, end: number): string {
  let text = ''
  let i = start
  for (;;) {
    let j = i
    while (j < end && values[j] === 0) j++
    // The run's `0,` pairs; the last element's comma is dropped below.
    if (j > i) text += ZEROS.slice(0, 2 * (j - i))
    if (j === end) break
    text += `${String(values[j])},`
    i = j + 1
    if (i === end) break
  }
  return text.slice(0, -1)
}

/** `values[start..end)` as a JS array, for JSON.stringify (a loop: Array.from's iterator costs more garbage). */
function numbers(values: ArrayLike<number>, start: number, end: number): number[] {
  const out = new Array<number>(end - start)
  for (let i = start; i < end; i++) out[i - start] = values[i] as number
  return out
}
