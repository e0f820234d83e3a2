import {
  DatatypeSchema,
  formatIssues,
  INFERENCE_HEADER_CONTENT_LENGTH,
  type InferRequest,
  InferRequestSchema,
  type RequestInput,
} from '@npu-fleet/protocol'
import { ErrBadInferRequest, ErrMalformedBody } from '../errors.js'
import type { StructuredInferRequest, TensorContents } from './infer-body.js'
import { NumericData } from './json-tensor-parser.js'

/** The tensor bytes after the JSON part of a binary-extension body. */
export interface BinaryPart {
  bytes: Uint8Array
  /** The bytes start an ArrayBuffer of their own: tensors may view them in place. */
  owned: boolean
}

function bad(message: string): never {
  throw new ErrBadInferRequest(message)
}

/** `parameters.binary_data_size` of an input, validated; undefined when the input is JSON. */
function binarySize(input: RequestInput, field: string): number | undefined {
  const size = input.parameters?.binary_data_size
  if (size === undefined || size === null) return undefined
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    bad(`${field}.parameters.binary_data_size: expected a byte count, got ${JSON.stringify(size)}`)
  }
  return size
}

/**
 * Takes the inputs' `data` that json-tensor-parser.ts read as numbers out of `json`, leaving empty arrays in
 * their place for the schema, which checks only that `data` is an array: the request is checked exactly as
 * one JSON.parse made, and the numbers go to the codec as the typed array they are.
 */
function takeNumericData(json: object): Map<number, Float64Array | Float32Array> {
  const taken = new Map<number, Float64Array | Float32Array>()
  const inputs = (json as { inputs?: unknown }).inputs
  if (!Array.isArray(inputs)) return taken
  inputs.forEach((input: unknown, index) => {
    const holder = input as { data?: unknown } | null
    if (holder !== null && typeof holder === 'object' && holder.data instanceof NumericData) {
      taken.set(index, holder.data.values)
      holder.data = []
    }
  })
  return taken
}

const DATATYPES: ReadonlySet<string> = new Set(DatatypeSchema.options)
const REQUEST_KEYS: ReadonlySet<string> = new Set(['id', 'inputs'])
const INPUT_KEYS: ReadonlySet<string> = new Set(['name', 'shape', 'datatype', 'data'])

/** A JSON object (what the schema's z.object takes): not null, not an array. */
function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** True when `value` has no own keys outside `allowed`. */
function onlyKeys(value: object, allowed: ReadonlySet<string>): boolean {
  for (const key of Object.keys(value)) if (!allowed.has(key)) return false
  return true
}

/**
 * The request itself when it is plainly valid in its most common form (an `id` at most and inputs with a
 * name, shape, datatype and `data` array, nothing the schema would strip or convert), which is then exactly
 * what the schema would answer; null for anything else, which the schema checks. The schema's walk costs
 * about a microsecond per small request, on the event loop.
 */
export function plainInferRequest(json: Record<string, unknown>): InferRequest | null {
  if (!onlyKeys(json, REQUEST_KEYS)) return null
  if (json.id !== undefined && typeof json.id !== 'string') return null
  const inputs = json.inputs
  if (!Array.isArray(inputs) || inputs.length === 0) return null
  for (const input of inputs) {
    if (!isObject(input) || !onlyKeys(input, INPUT_KEYS)) return null
    const { name, shape, datatype, data } = input
    if (typeof name !== 'string' || name.length === 0) return null
    if (typeof datatype !== 'string' || !DATATYPES.has(datatype)) return null
    if (data !== undefined && !Array.isArray(data)) return null
    if (!Array.isArray(shape)) return null
    for (const dim of shape) if (!Number.isSafeInteger(dim) || (dim as number) < 0) return null
  }
  return json as InferRequest
}

/**
 * Checks a parsed JSON infer request against the protocol schema and splits it into its parts: each input's
 * `data` as elements, or, with `parameters.binary_data_size`, its slice of the binary part (which must be used
 * up exactly). Throws NPU_ERR_MALFORMED_BODY for a non-object, NPU_ERR_BAD_INFER_REQUEST naming the field
 * otherwise. Nothing here needs the model: the JSON thread runs it too.
 */
export function structureJsonRequest(json: unknown, binary: BinaryPart | null): StructuredInferRequest {
  if (json === undefined || json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new ErrMalformedBody('expected a JSON object with "inputs"')
  }
  const numeric = takeNumericData(json)
  let request = plainInferRequest(json as Record<string, unknown>)
  if (request === null) {
    const parsed = InferRequestSchema.safeParse(json)
    if (!parsed.success) throw new ErrBadInferRequest(formatIssues(parsed.error))
    request = parsed.data
  }
  let offset = 0
  const inputs = request.inputs.map((input, index) => {
    const field = `inputs[${index}]`
    const size = binarySize(input, field)
    let contents: TensorContents
    if (size !== undefined) {
      const sizeField = `${field}.parameters.binary_data_size`
      if (input.data !== undefined) bad(`${field}.data: must be left out when binary_data_size is given`)
      if (binary === null) {
        bad(`${sizeField}: the request has no binary part (${INFERENCE_HEADER_CONTENT_LENGTH})`)
      }
      if (offset + size > binary.bytes.length) {
        bad(`${sizeField}: ${size} bytes, but only ${binary.bytes.length - offset} binary bytes are left`)
      }
      contents = {
        kind: 'raw',
        bytes: binary.bytes.subarray(offset, offset + size),
        owned: binary.owned,
        field: sizeField,
      }
      offset += size
    } else if (input.data !== undefined) {
      contents = { kind: 'elements', data: numeric.get(index) ?? input.data, field: `${field}.data` }
    } else {
      contents = { kind: 'missing' }
    }
    return {
      name: input.name,
      datatype: input.datatype,
      shape: input.shape,
      parameters: input.parameters ?? {},
      contents,
    }
  })
  if (binary !== null && offset !== binary.bytes.length) {
    bad(
      `inputs: the binary part has ${binary.bytes.length - offset} bytes that no input's binary_data_size claims`,
    )
  }
  return { id: request.id, parameters: request.parameters ?? {}, inputs, outputs: request.outputs }
}
