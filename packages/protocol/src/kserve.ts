import { z } from 'zod'

/**
 * KServe v2 tensor datatypes (Open Inference Protocol). BYTES elements are strings in JSON and length-prefixed
 * bytes in the binary extension and gRPC raw contents; FP16 and BF16 are numbers in JSON and raw 16-bit words
 * in binary (datatypes.ts has the table).
 */
export const DatatypeSchema = z.enum([
  'BOOL',
  'UINT8',
  'UINT16',
  'UINT32',
  'UINT64',
  'INT8',
  'INT16',
  'INT32',
  'INT64',
  'FP16',
  'BF16',
  'FP32',
  'FP64',
  'BYTES',
])
/** KServe v2 tensor datatype. */
export type Datatype = z.infer<typeof DatatypeSchema>

/** Free-form `parameters` object of the protocol. */
export const ParametersSchema = z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()]))
/** Free-form protocol parameters. */
export type Parameters = z.infer<typeof ParametersSchema>

/** Row-major tensor data: flat or nested arrays of numbers or booleans. Element checks happen in the codec. */
export type TensorData = Array<number | boolean | string | TensorData>
// Only "is an array" here: element checks happen once, in the worker's codec. Walking a 300k-element
// tensor in zod as well doubled the main-thread cost of a large request.
const TensorDataSchema = z.custom<TensorData>((v) => Array.isArray(v), { message: 'expected an array' })

/** One input tensor of an infer request. */
export const RequestInputSchema = z.object({
  name: z.string().min(1),
  shape: z.array(z.number().int().nonnegative()),
  datatype: DatatypeSchema,
  parameters: ParametersSchema.optional(),
  /** Absent when the tensor travels in the binary part (`parameters.binary_data_size`). */
  data: TensorDataSchema.optional(),
})
/** One input tensor of an infer request. */
export type RequestInput = z.infer<typeof RequestInputSchema>

/** One requested output. */
export const RequestOutputSchema = z.object({
  name: z.string().min(1),
  parameters: ParametersSchema.optional(),
})
/** One requested output. */
export type RequestOutput = z.infer<typeof RequestOutputSchema>

/** `POST /v2/models/{name}[/versions/{v}]/infer` body. */
export const InferRequestSchema = z.object({
  id: z.string().optional(),
  parameters: ParametersSchema.optional(),
  inputs: z.array(RequestInputSchema).min(1),
  outputs: z.array(RequestOutputSchema).optional(),
})
/** Infer request body. */
export type InferRequest = z.infer<typeof InferRequestSchema>

/** One output tensor of an infer response. */
export const ResponseOutputSchema = z.object({
  name: z.string(),
  shape: z.array(z.number().int().nonnegative()),
  datatype: DatatypeSchema,
  parameters: ParametersSchema.optional(),
  data: TensorDataSchema.optional(),
})
/** One output tensor of an infer response. */
export type ResponseOutput = z.infer<typeof ResponseOutputSchema>

/** Infer response body. */
export const InferResponseSchema = z.object({
  model_name: z.string(),
  model_version: z.string().optional(),
  id: z.string().optional(),
  parameters: ParametersSchema.optional(),
  outputs: z.array(ResponseOutputSchema),
})
/** Infer response body. */
export type InferResponse = z.infer<typeof InferResponseSchema>

/** `GET /v2` body. */
export const ServerMetadataSchema = z.object({
  name: z.string(),
  version: z.string(),
  extensions: z.array(z.string()),
})
/** Server metadata. */
export type ServerMetadata = z.infer<typeof ServerMetadataSchema>

/** A tensor's name, datatype and shape (-1 for a dynamic dimension). */
export const TensorMetadataSchema = z.object({
  name: z.string(),
  datatype: DatatypeSchema,
  shape: z.array(z.number().int()),
})
/** Tensor metadata. */
export type TensorMetadata = z.infer<typeof TensorMetadataSchema>

/** `GET /v2/models/{name}[/versions/{v}]` body. */
export const ModelMetadataSchema = z.object({
  name: z.string(),
  versions: z.array(z.string()),
  platform: z.string(),
  inputs: z.array(TensorMetadataSchema),
  outputs: z.array(TensorMetadataSchema),
})
/** Model metadata. */
export type ModelMetadata = z.infer<typeof ModelMetadataSchema>

/** Header carrying the JSON part's length in the KServe binary tensor extension. */
export const INFERENCE_HEADER_CONTENT_LENGTH = 'inference-header-content-length'
/** Header carrying a per-request deadline in milliseconds. */
export const DEADLINE_HEADER = 'x-request-timeout-ms'

/** Triton's name for each datatype in a model configuration (`model_config.proto` `DataType`). */
export const CONFIG_DATA_TYPE_OF = {
  BOOL: 'TYPE_BOOL',
  UINT8: 'TYPE_UINT8',
  UINT16: 'TYPE_UINT16',
  UINT32: 'TYPE_UINT32',
  UINT64: 'TYPE_UINT64',
  INT8: 'TYPE_INT8',
  INT16: 'TYPE_INT16',
  INT32: 'TYPE_INT32',
  INT64: 'TYPE_INT64',
  FP16: 'TYPE_FP16',
  BF16: 'TYPE_BF16',
  FP32: 'TYPE_FP32',
  FP64: 'TYPE_FP64',
  BYTES: 'TYPE_STRING',
} as const satisfies Record<Datatype, string>

/** One input or output in a model configuration: Triton's `ModelInput`/`ModelOutput` (dims without the batch dimension when `max_batch_size` > 0). */
export const ModelConfigTensorSchema = z.object({
  name: z.string(),
  data_type: z.enum(Object.values(CONFIG_DATA_TYPE_OF) as [string, ...string[]]),
  dims: z.array(z.number().int()),
})
/** One input or output in a model configuration. */
export type ModelConfigTensor = z.infer<typeof ModelConfigTensorSchema>

/**
 * `GET /v2/models/{name}[/versions/{v}]/config` body (the model configuration extension): the JSON form of the
 * fields of Triton's `ModelConfig` that mean something here, plus the worker's own decisions in `parameters`
 * (string values, as Triton's `ModelParameter`).
 */
export const ModelConfigSchema = z.object({
  name: z.string(),
  /** `onnxruntime_onnx` or `openvino` (Triton's platform names). */
  platform: z.string(),
  /** `onnxruntime` or `openvino`: the backend serving it now. */
  backend: z.string(),
  /** Rows per batch the worker merges requests into (dynamic batching); 0 = the model is not batched. */
  max_batch_size: z.number().int().nonnegative(),
  input: z.array(ModelConfigTensorSchema),
  output: z.array(ModelConfigTensorSchema),
  /** Inference instances, Triton's `instance_group` (`KIND_CPU`, or `KIND_MODEL` for an accelerator). */
  instance_group: z.array(z.object({ count: z.number().int(), kind: z.string() })),
  /** Present when the model batches requests. */
  dynamic_batching: z
    .object({
      preferred_batch_size: z.array(z.number().int()),
      max_queue_delay_microseconds: z.number().int(),
    })
    .optional(),
  parameters: z.record(z.string(), z.object({ string_value: z.string() })),
})
/** Model configuration. */
export type ModelConfig = z.infer<typeof ModelConfigSchema>
