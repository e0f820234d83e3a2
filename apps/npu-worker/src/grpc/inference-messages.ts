// The messages of inference.GRPCInferenceService as @grpc/proto-loader hands them over with the options in
// inference-proto.ts (field names as in the .proto, int64 as decimal strings, bytes as Buffers, unset repeated
// fields as empty arrays, the set member of a oneof named by `parameter_choice`). Outgoing messages may give
// int64 fields as numbers; protobufjs takes both.

/** int64/uint64 as proto-loader decodes them (`longs: String`) or as we encode them. */
export type Int64 = string | number

/** `InferParameter`: one of its members, named by `parameter_choice`. */
export interface InferParameter {
  parameter_choice?: 'bool_param' | 'int64_param' | 'string_param' | 'double_param' | 'uint64_param'
  bool_param?: boolean
  int64_param?: Int64
  string_param?: string
  double_param?: number
  uint64_param?: Int64
}

/** `InferTensorContents`: the elements in the repeated field of their datatype. */
export interface InferTensorContents {
  bool_contents?: boolean[]
  int_contents?: number[]
  int64_contents?: Int64[]
  uint_contents?: number[]
  uint64_contents?: Int64[]
  fp32_contents?: number[]
  fp64_contents?: number[]
  bytes_contents?: Uint8Array[]
}

/** `ModelInferRequest.InferInputTensor`. */
export interface InferInputTensor {
  name?: string
  datatype?: string
  shape?: Int64[]
  parameters?: Record<string, InferParameter>
  contents?: InferTensorContents | null
}

/** `ModelInferRequest`. */
export interface ModelInferRequest {
  model_name?: string
  model_version?: string
  id?: string
  parameters?: Record<string, InferParameter>
  inputs?: InferInputTensor[]
  outputs?: Array<{ name?: string; parameters?: Record<string, InferParameter> }>
  raw_input_contents?: Uint8Array[]
}

/** `ModelInferResponse.InferOutputTensor`. */
export interface InferOutputTensor {
  name: string
  datatype: string
  shape: Int64[]
  parameters?: Record<string, InferParameter>
  contents?: InferTensorContents
}

/** `ModelInferResponse`. */
export interface ModelInferResponse {
  model_name: string
  model_version: string
  id: string
  parameters?: Record<string, InferParameter>
  outputs: InferOutputTensor[]
  raw_output_contents: Uint8Array[]
}

/** `ModelReadyRequest` and `ModelMetadataRequest`. */
export interface ModelRequest {
  name?: string
  version?: string
}

/** `ModelMetadataResponse`. */
export interface ModelMetadataResponse {
  name: string
  versions: string[]
  platform: string
  inputs: Array<{ name: string; datatype: string; shape: Int64[] }>
  outputs: Array<{ name: string; datatype: string; shape: Int64[] }>
  properties?: Record<string, string>
}
