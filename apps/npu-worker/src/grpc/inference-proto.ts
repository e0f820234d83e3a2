import { type GrpcObject, loadPackageDefinition, type ServiceClientConstructor } from '@grpc/grpc-js'
import { loadSync, type Options } from '@grpc/proto-loader'
import { OPEN_INFERENCE_PROTO_PATH } from '@npu-fleet/protocol'

/**
 * How messages are read and written: field names as the .proto spells them, int64 as exact decimal strings
 * (a number would round above 2^53), bytes as Buffers, repeated fields always arrays, the set oneof member named.
 */
export const PROTO_LOADER_OPTIONS: Options = {
  keepCase: true,
  longs: String,
  enums: String,
  bytes: Buffer,
  defaults: false,
  arrays: true,
  oneofs: true,
}

/**
 * `inference.GRPCInferenceService` from the protocol package's .proto: its `service` definition for a server,
 * and the client constructor itself (tests and clients build theirs from the same file).
 */
export function loadInferenceService(): ServiceClientConstructor {
  const definition = loadSync(OPEN_INFERENCE_PROTO_PATH, PROTO_LOADER_OPTIONS)
  const inference = loadPackageDefinition(definition).inference as GrpcObject
  return inference.GRPCInferenceService as ServiceClientConstructor
}
