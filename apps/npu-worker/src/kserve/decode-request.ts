import { INFERENCE_HEADER_CONTENT_LENGTH, type Parameters } from '@npu-fleet/protocol'
import type { TensorInfo } from '../backends/backend.js'
import type { Tensor } from '../backends/tensor.js'
import { ErrBadInferRequest, ErrUnsupportedMediaType } from '../errors.js'
import type { InferBody, StructuredInferRequest, StructuredInput } from './infer-body.js'
import { structureJsonRequest } from './json-request.js'
import { checkShape, tensorFromElements, tensorFromRaw } from './tensor-codec.js'

/** The inputs and outputs a request is decoded against (a loaded model). */
export interface ModelSignature {
  readonly inputs: readonly TensorInfo[]
  readonly outputs: readonly TensorInfo[]
}

/** One output to answer with, and whether it goes raw (binary extension, gRPC raw contents) or as elements. */
export interface RequestedOutput {
  name: string
  raw: boolean
}

/** An infer request checked against its model: what the scheduler runs and encodeResponse answers. */
export interface DecodedRequest {
  id: string | undefined
  inputs: Record<string, Tensor>
  /** Every output to answer with, in answer order. */
  outputs: RequestedOutput[]
  /** The outputs the backend must compute; undefined when the request asked for all of them. */
  outputNames: string[] | undefined
  /** `parameters.timeout` in ms, when given. */
  timeoutMs: number | undefined
  /** The request's own parameters (those the protocol does not define), passed through to the backend. */
  parameters: Parameters
}

/** How a transport answers by default. */
export interface DecodeOptions {
  /** True when outputs go raw unless the request says otherwise (gRPC, as Triton and OVMS answer). */
  rawOutputsByDefault: boolean
}

/**
 * Request parameters Triton reserves (its parameters extension) for features this worker does not implement:
 * a request that sets one expects behaviour it would not get (a sequence's state, a priority), so it is
 * refused, naming the parameter. Every other unknown parameter is a custom one and passes through.
 */
const RESERVED_UNSUPPORTED: Readonly<Record<string, string>> = {
  sequence_id: 'the sequence extension',
  sequence_start: 'the sequence extension',
  sequence_end: 'the sequence extension',
  priority: 'the schedule policy extension',
  headers: 'header forwarding',
}

/** Parameters with a meaning here: read, never passed on. */
const KNOWN_REQUEST_PARAMETERS = new Set(['timeout', 'binary_data_output'])

function bad(message: string): never {
  throw new ErrBadInferRequest(message)
}

/** Reads a boolean protocol parameter; anything but a boolean is a 400 naming the field. */
function flag(value: unknown, field: string): boolean | undefined {
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'boolean') bad(`${field}: expected true or false, got ${JSON.stringify(value)}`)
  return value
}

/** The request-level parameters: the ones read here, checked; the reserved ones refused; the rest passed on. */
function requestParameters(parameters: Parameters): {
  timeoutMs: number | undefined
  rawOutputs: boolean | undefined
  custom: Parameters
} {
  const custom: Parameters = {}
  for (const [key, value] of Object.entries(parameters)) {
    const reservedFor =
      RESERVED_UNSUPPORTED[key] ?? (key.startsWith('triton_') ? "Triton's own use" : undefined)
    if (reservedFor !== undefined) {
      bad(`parameters.${key}: reserved for ${reservedFor}, which this worker does not implement`)
    }
    if (!KNOWN_REQUEST_PARAMETERS.has(key)) custom[key] = value
  }
  const timeout = parameters.timeout
  if (
    timeout !== undefined &&
    timeout !== null &&
    (typeof timeout !== 'number' || !Number.isFinite(timeout) || timeout < 1)
  ) {
    bad(`parameters.timeout: expected a number of milliseconds, at least 1, got ${JSON.stringify(timeout)}`)
  }
  return {
    timeoutMs: typeof timeout === 'number' ? timeout : undefined,
    rawOutputs: flag(parameters.binary_data_output, 'parameters.binary_data_output'),
    custom,
  }
}

/** One input's tensor, from whichever form its contents came in; its datatype and shape are checked already. */
function tensorOfContents(input: StructuredInput, info: TensorInfo, field: string): Tensor {
  const { contents } = input
  switch (contents.kind) {
    case 'missing':
      return bad(`${field}.data: missing (or give parameters.binary_data_size)`)
    case 'elements':
      return tensorFromElements(contents.data, info.datatype, input.shape, contents.field)
    case 'raw':
      return tensorFromRaw(contents.bytes, info.datatype, input.shape, contents.owned, contents.field)
    case 'tensor':
      // Decoded off the main thread by the input's own datatype and shape, both just checked against the model.
      return contents.tensor
  }
}

/** Every input decoded against the model: each present once, known names, datatype, shape and contents. */
function decodeInputs(
  inputs: readonly StructuredInput[],
  model: readonly TensorInfo[],
): Record<string, Tensor> {
  const byName = new Map(model.map((info) => [info.name, info]))
  const tensors: Record<string, Tensor> = {}
  inputs.forEach((input, index) => {
    const field = `inputs[${index}]`
    const info = byName.get(input.name)
    if (!info)
      bad(`${field}.name: unknown input "${input.name}"; model inputs: ${[...byName.keys()].join(', ')}`)
    if (input.name in tensors) bad(`${field}.name: input "${input.name}" given twice`)
    checkShape(input, field, info)
    tensors[input.name] = tensorOfContents(input, info, field)
  })
  for (const info of model) {
    if (!(info.name in tensors)) bad(`inputs: model input "${info.name}" is missing`)
  }
  return tensors
}

/** The structured request a body stands for; 415 for a media type the route does not take. */
function structure(body: InferBody): StructuredInferRequest {
  switch (body.kind) {
    case 'unsupported':
      throw new ErrUnsupportedMediaType(
        `${body.contentType} (send application/json, or the binary tensor extension with ${INFERENCE_HEADER_CONTENT_LENGTH})`,
      )
    case 'json':
      return structureJsonRequest(body.json, null)
    case 'binary':
      return structureJsonRequest(body.json, { bytes: body.tensors, owned: body.owned })
    case 'decoded':
      return body.request
  }
}

/**
 * Decodes an infer request for `model`, whatever transport and form it came in (REST JSON or binary, a body
 * decoded on the JSON thread, gRPC): its inputs as tensors, validated against the model's inputs; the outputs
 * to answer with and their form; its deadline parameter; its custom parameters. Throws the 4xx that names
 * the field.
 */
export function decodeRequest(
  body: InferBody,
  model: ModelSignature,
  options: DecodeOptions = { rawOutputsByDefault: false },
): DecodedRequest {
  const request = structure(body)
  const { timeoutMs, rawOutputs, custom } = requestParameters(request.parameters)
  const inputs = decodeInputs(request.inputs, model.inputs)
  const byDefault = rawOutputs ?? options.rawOutputsByDefault
  if (request.outputs?.length === 0) {
    bad('outputs: must name at least one output, or be left out for all outputs')
  }
  const outputs = request.outputs
    ? request.outputs.map((o, i) => {
        if (!model.outputs.some((info) => info.name === o.name)) {
          bad(
            `outputs[${i}].name: unknown output "${o.name}"; model outputs: ${model.outputs.map((info) => info.name).join(', ')}`,
          )
        }
        return {
          name: o.name,
          raw: flag(o.parameters?.binary_data, `outputs[${i}].parameters.binary_data`) ?? byDefault,
        }
      })
    : model.outputs.map((info) => ({ name: info.name, raw: byDefault }))
  return {
    id: request.id,
    inputs,
    outputs,
    outputNames: request.outputs ? outputs.map((o) => o.name) : undefined,
    timeoutMs,
    parameters: custom,
  }
}
