import { type Datatype, DatatypeSchema, type Parameters, type RequestOutput } from '@npu-fleet/protocol'
import type { Tensor } from '../backends/tensor.js'
import { ErrBadInferRequest } from '../errors.js'
import type { EncodedResponse } from '../kserve/encode-response.js'
import type { StructuredInferRequest, StructuredInput, TensorContents } from '../kserve/infer-body.js'
import { isSixteenBitFloat } from '../kserve/tensor-codec.js'
import type {
  InferParameter,
  InferTensorContents,
  Int64,
  ModelInferRequest,
  ModelInferResponse,
} from './inference-messages.js'

// A gRPC ModelInferRequest into the structured request decodeRequest takes, and an encoded answer into a
// ModelInferResponse: typed contents (the repeated field of each datatype) or raw contents.

type ContentsField = keyof InferTensorContents

/** The typed-contents field of each datatype; FP16 and BF16 have none (the protocol sends them raw only). */
const CONTENTS_FIELD: Readonly<Record<Datatype, ContentsField | null>> = {
  BOOL: 'bool_contents',
  INT8: 'int_contents',
  INT16: 'int_contents',
  INT32: 'int_contents',
  INT64: 'int64_contents',
  UINT8: 'uint_contents',
  UINT16: 'uint_contents',
  UINT32: 'uint_contents',
  UINT64: 'uint64_contents',
  FP16: null,
  BF16: null,
  FP32: 'fp32_contents',
  FP64: 'fp64_contents',
  BYTES: 'bytes_contents',
}

function bad(message: string): never {
  throw new ErrBadInferRequest(message)
}

/** An int64 as a JS number when it is one exactly, else its decimal string. */
function int64Value(value: Int64): number | string {
  const n = Number(value)
  return Number.isSafeInteger(n) ? n : String(value)
}

/** A gRPC parameter map as protocol parameters (the set member of each `InferParameter`). */
export function parametersOf(map: Record<string, InferParameter> | undefined, field: string): Parameters {
  const out: Parameters = {}
  for (const [key, parameter] of Object.entries(map ?? {})) {
    switch (parameter.parameter_choice) {
      case 'bool_param':
        out[key] = parameter.bool_param ?? false
        break
      case 'int64_param':
        out[key] = int64Value(parameter.int64_param ?? 0)
        break
      case 'uint64_param':
        out[key] = int64Value(parameter.uint64_param ?? 0)
        break
      case 'double_param':
        out[key] = parameter.double_param ?? 0
        break
      case 'string_param':
        out[key] = parameter.string_param ?? ''
        break
      default:
        bad(`${field}.${key}: a parameter with no value set`)
    }
  }
  return out
}

/** Dimensions from int64 values: each a whole number from 0 up (the codec refuses 0 for the model). */
function shapeOf(shape: readonly Int64[] | undefined, field: string): number[] {
  return (shape ?? []).map((d, i) => {
    const n = Number(d)
    if (!Number.isSafeInteger(n) || n < 0)
      bad(`${field}.shape[${i}]: expected a dimension of 0 or more, got ${d}`)
    return n
  })
}

/** Every typed-contents field, in the .proto's order. */
const CONTENTS_FIELDS = [
  'bool_contents',
  'int_contents',
  'int64_contents',
  'uint_contents',
  'uint64_contents',
  'fp32_contents',
  'fp64_contents',
  'bytes_contents',
] as const satisfies readonly ContentsField[]

/** The non-empty typed-contents fields of `contents`. */
function filledFields(contents: InferTensorContents | null | undefined): ContentsField[] {
  return CONTENTS_FIELDS.filter((f) => (contents?.[f]?.length ?? 0) > 0)
}

/** One input's contents: its slice of raw_input_contents, or the typed field of its datatype. */
function contentsOf(
  request: ModelInferRequest,
  index: number,
  datatype: Datatype,
  field: string,
): TensorContents {
  const input = request.inputs?.[index]
  const raw = request.raw_input_contents ?? []
  const filled = filledFields(input?.contents)
  if (raw.length > 0) {
    if (filled.length > 0) {
      bad(`${field}.contents.${filled[0]}: must be empty when the request uses raw_input_contents`)
    }
    return {
      kind: 'raw',
      bytes: raw[index] as Uint8Array,
      owned: false,
      field: `raw_input_contents[${index}]`,
    }
  }
  const own = CONTENTS_FIELD[datatype]
  if (own === null) {
    bad(`${field}: ${datatype} has no typed contents in the protocol; send it in raw_input_contents`)
  }
  const other = filled.find((f) => f !== own)
  if (other !== undefined)
    bad(`${field}.contents.${other}: given for a ${datatype} input, which takes ${own}`)
  return { kind: 'elements', data: input?.contents?.[own] ?? [], field: `${field}.contents.${own}` }
}

/** A gRPC ModelInferRequest split into its parts, its fields checked as far as no model is needed. */
export function structureGrpcRequest(request: ModelInferRequest): StructuredInferRequest {
  const inputs = request.inputs ?? []
  if (inputs.length === 0) bad('inputs: must hold at least one input')
  const raw = request.raw_input_contents ?? []
  if (raw.length > 0 && raw.length !== inputs.length) {
    bad(
      `raw_input_contents: ${raw.length} entries for ${inputs.length} inputs; give one per input, in input order`,
    )
  }
  const structured = inputs.map((input, index): StructuredInput => {
    const field = `inputs[${index}]`
    if (!input.name) bad(`${field}.name: required`)
    const parsed = DatatypeSchema.safeParse(input.datatype)
    if (!parsed.success) {
      bad(
        `${field}.datatype: expected one of ${DatatypeSchema.options.join(', ')}, got ${JSON.stringify(input.datatype ?? '')}`,
      )
    }
    return {
      name: input.name,
      datatype: parsed.data,
      shape: shapeOf(input.shape, field),
      parameters: parametersOf(input.parameters, `${field}.parameters`),
      contents: contentsOf(request, index, parsed.data, field),
    }
  })
  const outputs = (request.outputs ?? []).map((o, i): RequestOutput => {
    if (!o.name) bad(`outputs[${i}].name: required`)
    return { name: o.name, parameters: parametersOf(o.parameters, `outputs[${i}].parameters`) }
  })
  return {
    id: request.id || undefined,
    parameters: parametersOf(request.parameters, 'parameters'),
    inputs: structured,
    outputs: outputs.length > 0 ? outputs : undefined,
  }
}

/**
 * Whether the answer to `request` goes raw (the default, as Triton and OVMS answer) or in typed contents:
 * `binary_data_output: false`, or `binary_data: false` on outputs, asks for typed contents. A gRPC answer is
 * one or the other for all its outputs, and FP16/BF16 outputs have no typed contents: asked otherwise, the
 * request is refused before it runs. `outputDatatypes` are those of the outputs the answer will hold.
 */
export function checkAnswerForm(request: StructuredInferRequest, outputDatatypes: readonly Datatype[]): void {
  const wantsTyped = (value: unknown) => value === false
  const requestTyped = wantsTyped(request.parameters.binary_data_output)
  const forms = (request.outputs ?? [{ name: '', parameters: {} }]).map((o) => {
    const own = o.parameters?.binary_data
    return own === undefined || own === null ? requestTyped : wantsTyped(own)
  })
  if (new Set(forms).size > 1) {
    bad('outputs: a gRPC answer holds either raw_output_contents or typed contents for all outputs, not both')
  }
  if (forms[0] === true) {
    const sixteen = outputDatatypes.find(isSixteenBitFloat)
    if (sixteen) bad(`outputs: ${sixteen} outputs have no typed contents in the protocol; leave them raw`)
  }
}

/** A tensor's elements in the typed-contents field of its datatype (int64 as exact decimal strings). */
function typedContents(tensor: Tensor): InferTensorContents {
  switch (tensor.datatype) {
    case 'BYTES':
      return { bytes_contents: tensor.data.map((s) => Buffer.from(s, 'utf8')) }
    case 'BOOL':
      return { bool_contents: Array.from(tensor.data as Uint8Array, (v) => v !== 0) }
    case 'INT64':
    case 'UINT64':
      return {
        [CONTENTS_FIELD[tensor.datatype] as ContentsField]: Array.from(tensor.data as BigInt64Array, String),
      }
    case 'FP16':
    case 'BF16':
      throw new Error(`${tensor.datatype} has no typed contents (checkAnswerForm refuses to ask for them)`)
    default:
      return { [CONTENTS_FIELD[tensor.datatype] as ContentsField]: Array.from(tensor.data as Float32Array) }
  }
}

/** An encoded answer as a ModelInferResponse: raw_output_contents when its outputs are raw, else typed contents. */
export function grpcResponseOf(answer: EncodedResponse): ModelInferResponse {
  const raw = answer.outputs.every((o) => o.raw !== null)
  return {
    model_name: answer.model_name,
    model_version: answer.model_version,
    id: answer.id ?? '',
    outputs: answer.outputs.map(({ name, datatype, shape, tensor }) => ({
      name,
      datatype,
      shape,
      ...(raw ? {} : { contents: typedContents(tensor) }),
    })),
    raw_output_contents: raw ? answer.outputs.map((o) => o.raw as Uint8Array) : [],
  }
}
