import type { Datatype } from '@npu-fleet/protocol'
import type { Tensor } from '../backends/tensor.js'
import type { DecodedRequest } from './decode-request.js'
import { rawBytes } from './tensor-codec.js'

/** One output of an answer: its tensor, and its raw bytes when it goes raw (else the transport writes elements). */
export interface EncodedOutput {
  name: string
  datatype: Datatype
  shape: number[]
  tensor: Tensor
  /** Little-endian (length-prefixed for BYTES) bytes, for the binary extension or gRPC raw contents; null: elements. */
  raw: Uint8Array | null
}

/** An inference's answer, before a transport frames it (http/infer-reply.ts, grpc/grpc-infer.ts). */
export interface EncodedResponse {
  model_name: string
  model_version: string
  id: string | undefined
  outputs: EncodedOutput[]
}

/**
 * The answer to `request` from the backend's `outputs`: the outputs asked for, in the order asked, each in the
 * form asked. A backend that left out an output asked for is a bug, never papered over.
 */
export function encodeResponse(
  request: DecodedRequest,
  model: { name: string; version: string },
  outputs: Readonly<Record<string, Tensor>>,
): EncodedResponse {
  return {
    model_name: model.name,
    model_version: model.version,
    id: request.id,
    outputs: request.outputs.map(({ name, raw }) => {
      const tensor = outputs[name]
      if (!tensor) throw new Error(`backend returned no tensor for output ${name}`)
      return {
        name,
        datatype: tensor.datatype,
        shape: tensor.shape,
        tensor,
        raw: raw ? rawBytes(tensor) : null,
      }
    }),
  }
}
