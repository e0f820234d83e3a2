import { fileURLToPath } from 'node:url'

/**
 * Path of the Open Inference Protocol's gRPC service definition (`package inference`,
 * `GRPCInferenceService`), shipped with this package: the worker serves it and clients load it (with
 * `@grpc/proto-loader`) to talk to a worker.
 */
export const OPEN_INFERENCE_PROTO_PATH = fileURLToPath(
  new URL('../proto/open_inference_grpc.proto', import.meta.url),
)

/** The service's full name, as gRPC addresses it. */
export const GRPC_INFERENCE_SERVICE = 'inference.GRPCInferenceService'

/** gRPC metadata key carrying the worker's `NPU_ERR_*` code on every failed call (its trailers). */
export const GRPC_ERROR_CODE_METADATA = 'npu-error-code'
