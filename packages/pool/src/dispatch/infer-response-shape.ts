import { DatatypeSchema, type InferResponse } from '@npu-fleet/protocol'
import { isNonNegativeInt, isRecord } from './json-checks.js'

const DATATYPES: ReadonlySet<unknown> = new Set<unknown>(DatatypeSchema.options)

/**
 * True when a `JSON.parse` result is a KServe v2 infer response: a hand-written copy of `InferResponseSchema`
 * (`@npu-fleet/protocol`) for the hot path, one call per inference, a few times cheaper than the schema. The
 * schema stays the reference: a property test holds this function to accept nothing the schema rejects and to
 * accept what the schema accepts. False only means "not on the fast path": the caller then asks the schema,
 * which decides.
 */
export function isInferResponse(body: unknown): body is InferResponse {
  if (!isRecord(body)) return false
  const { model_name, model_version, id, parameters, outputs } = body
  if (typeof model_name !== 'string') return false
  if (model_version !== undefined && typeof model_version !== 'string') return false
  if (id !== undefined && typeof id !== 'string') return false
  if (parameters !== undefined && !isParameters(parameters)) return false
  if (!Array.isArray(outputs)) return false
  for (let i = 0; i < outputs.length; i++) if (!isOutput(outputs[i])) return false
  return true
}

// ResponseOutputSchema: name, shape of non-negative integers, datatype, optional parameters, data only "an array".
function isOutput(value: unknown): boolean {
  if (!isRecord(value)) return false
  const { name, shape, datatype, parameters, data } = value
  if (typeof name !== 'string' || !Array.isArray(shape) || !DATATYPES.has(datatype)) return false
  for (let i = 0; i < shape.length; i++) if (!isNonNegativeInt(shape[i])) return false
  if (parameters !== undefined && !isParameters(parameters)) return false
  return data === undefined || Array.isArray(data)
}

// ParametersSchema: a record of string, finite number, boolean or null. zod's record skips a `__proto__` key
// (its value unchecked), so this does too.
function isParameters(value: unknown): boolean {
  if (!isRecord(value)) return false
  for (const key in value) {
    if (key === '__proto__') continue
    const v = value[key]
    if (v !== null && typeof v !== 'string' && typeof v !== 'boolean' && !Number.isFinite(v)) return false
  }
  return true
}
