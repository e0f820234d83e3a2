import type { Datatype, Parameters, RequestOutput } from '@npu-fleet/protocol'
import type { Tensor } from '../backends/tensor.js'

/**
 * An infer request as a transport delivered it, before it is checked against a model (decode-request.ts
 * does that, for REST and gRPC alike).
 */
export type InferBody =
  /** A plain JSON body, parsed but not yet checked: tensors in each input's `data`. */
  | { kind: 'json'; json: unknown }
  /**
   * The binary tensor extension: the JSON part, parsed, and the tensor bytes after it, in input order.
   * `owned`: the bytes start an ArrayBuffer no one else holds (read straight from the socket), so tensors
   * may view them in place.
   */
  | { kind: 'binary'; json: unknown; tensors: Uint8Array; owned: boolean }
  /**
   * A request already split into its parts and its protocol schema checked: a large JSON body decoded on the
   * JSON thread (tensors decoded there too), or a gRPC ModelInferRequest (contents as they came).
   */
  | { kind: 'decoded'; request: StructuredInferRequest }
  /** A media type the infer route does not take: refused with 415 once the model is known (404 first). */
  | { kind: 'unsupported'; contentType: string }

/** The data of one input, in whichever form it arrived. */
export type TensorContents =
  /** Elements still to be checked: JSON `data` (flat or nested), or gRPC typed contents (flat); `field` names them. */
  | { kind: 'elements'; data: ArrayLike<unknown>; field: string }
  /**
   * Raw bytes (binary extension, gRPC `raw_input_contents`): little-endian elements, length-prefixed for BYTES.
   * `owned` as in {@link InferBody}; `field` names them in errors.
   */
  | { kind: 'raw'; bytes: Uint8Array; owned: boolean; field: string }
  /** Decoded and checked already, by the input's own datatype and shape (the JSON thread). */
  | { kind: 'tensor'; tensor: Tensor }
  /** Neither data nor bytes were given. */
  | { kind: 'missing' }

/** One input of a {@link StructuredInferRequest}. */
export interface StructuredInput {
  name: string
  datatype: Datatype
  shape: number[]
  parameters: Parameters
  contents: TensorContents
}

/** An infer request split into its parts: the form both transports decode into (decode-request.ts). */
export interface StructuredInferRequest {
  id: string | undefined
  parameters: Parameters
  inputs: StructuredInput[]
  /** The outputs asked for, or undefined for all of them. */
  outputs: RequestOutput[] | undefined
}
