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

/**
 * A typed array of numbers as a JSON array, or null when one is not finite (JSON writes `null` for NaN and
 * ±Infinity; the caller then takes JSON.stringify's way). For a finite number JSON.stringify and
 * `Array.prototype.join` print the same text (Number::toString, -0 as `0`), at different costs, measured on
 * fresh values (join's number-string cache makes repeated values look cheaper than they are): a zero costs
 * join ~14 ns and JSON.stringify ~41, any other number ~250 against ~158. So each chunk of at least 80% zeros
 * (a detector's background) is joined, any other is stringified: never slower than JSON.stringify alone, and
 * 0.3× its cost on a mostly-zero 1×1×320×320 map.
 */
function plainNumbersJson(data: TensorArray): string | null {
  const n = data.length
  const values = data as Exclude<TensorArray, BigInt64Array | BigUint64Array>
  for (let i = 0; i < n; i++) {
    const v = values[i] as number
    // v - v is 0 for every finite number, NaN for NaN and ±Infinity.
    if (v - v !== 0) return null
  }
  // One chunk (the common small answer): no views, no slices.
  if (n <= CHUNK)
    return mostlyZeros(values, 0, n) ? `[${values.join(',')}]` : JSON.stringify(numbers(values, 0, n))
  let text = '['
  for (let start = 0; start < n; start += CHUNK) {
    const end = Math.min(n, start + CHUNK)
    if (start > 0) text += ','
    text += mostlyZeros(values, start, end)
      ? values.subarray(start, end).join(',')
      : JSON.stringify(numbers(values, start, end)).slice(1, -1)
  }
  return `${text}]`
}

/** True when at least 80% of `values[start..end)` are zeros (see plainNumbersJson). */
function mostlyZeros(values: ArrayLike<number>, start: number, end: number): boolean {
  let zeros = 0
  for (let i = start; i < end; i++) if (values[i] === 0) zeros++
  return zeros * 5 >= (end - start) * 4
}

/** `values[start..end)` as a JS array, for JSON.stringify (a loop: Array.from's iterator costs more garbage). */
function numbers(values: ArrayLike<number>, start: number, end: number): number[] {
  const out = new Array<number>(end - start)
  for (let i = start; i < end; i++) out[i - start] = values[i] as number
  return out
}
