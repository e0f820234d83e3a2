import {
  decodeBytesElements,
  INFERENCE_HEADER_CONTENT_LENGTH,
  type InferResponse,
  type TensorArray,
  TYPED_ARRAY_OF,
  utf8Text,
} from '@npu-fleet/protocol'

/** Typed arrays a tensor's `data` may be given as (and binary outputs come back as): the protocol's table. */
export type TypedTensorData = TensorArray

/** A request body framed for the KServe binary tensor extension, and its headers (a class: never confused with user data). */
export class EncodedBody {
  constructor(
    readonly bytes: Uint8Array,
    readonly headers: readonly string[],
  ) {}
}

/**
 * Frames a KServe infer request for the binary extension: every input whose `data` is a typed array travels
 * as raw bytes (`parameters.binary_data_size`), others stay JSON; every output is asked for in binary
 * (`binary_data_output`) unless the request says otherwise. Returns null when `request` is not an object
 * with an `inputs` array (the worker then answers the 400).
 */
export function encodeBinaryRequest(request: unknown): EncodedBody | null {
  if (
    request === null ||
    typeof request !== 'object' ||
    !Array.isArray((request as { inputs?: unknown }).inputs)
  ) {
    return null
  }
  const r = request as { inputs: Array<Record<string, unknown>>; parameters?: Record<string, unknown> }
  const chunks: Uint8Array[] = []
  const inputs = r.inputs.map((input) => {
    const data = input?.data
    if (!ArrayBuffer.isView(data) || data instanceof DataView) return input
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
    chunks.push(bytes)
    const { data: _omit, ...rest } = input
    return { ...rest, parameters: { ...(input.parameters as object), binary_data_size: bytes.length } }
  })
  const header = Buffer.from(
    JSON.stringify({ ...r, inputs, parameters: { binary_data_output: true, ...r.parameters } }),
    'utf8',
  )
  return new EncodedBody(Buffer.concat([header, ...chunks]), [
    INFERENCE_HEADER_CONTENT_LENGTH,
    String(header.length),
    'content-type',
    'application/octet-stream',
  ])
}

/**
 * Puts the binary part of a response back into its outputs: each output with `parameters.binary_data_size`
 * gets `data` as a typed array of its datatype (copied out, aligned), or, for BYTES, its length-prefixed
 * elements as strings. Returns null when the sizes do not add up (a response that does not match the protocol).
 */
export function attachBinaryOutputs(response: InferResponse, binary: Uint8Array): InferResponse | null {
  let offset = 0
  const outputs = []
  for (const output of response.outputs) {
    const size = output.parameters?.binary_data_size
    if (size === undefined || size === null) {
      outputs.push(output)
      continue
    }
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0 || offset + size > binary.length)
      return null
    const bytes = binary.subarray(offset, offset + size)
    offset += size
    if (output.datatype === 'BYTES') {
      const strings = bytesOutput(bytes)
      if (strings === null) return null
      outputs.push({ ...output, data: strings })
      continue
    }
    const Typed = TYPED_ARRAY_OF[output.datatype]
    if (size % Typed.BYTES_PER_ELEMENT !== 0) return null
    const copy = new ArrayBuffer(size)
    new Uint8Array(copy).set(bytes)
    outputs.push({
      ...output,
      data: new Typed(copy, 0, size / Typed.BYTES_PER_ELEMENT) as unknown as number[],
    })
  }
  return offset === binary.length ? { ...response, outputs } : null
}

/** A BYTES output's elements as strings, or null when its framing or text is broken. */
function bytesOutput(bytes: Uint8Array): string[] | null {
  try {
    const strings = decodeBytesElements(bytes).map(utf8Text)
    return strings.every((s) => s !== null) ? (strings as string[]) : null
  } catch {
    return null
  }
}
