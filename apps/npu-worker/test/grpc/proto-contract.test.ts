import { loadSync } from '@grpc/proto-loader'
import { OPEN_INFERENCE_PROTO_PATH } from '@npu-fleet/protocol'
import { describe, expect, it } from 'vitest'

// The worker's .proto against the published specification (kserve/open-inference-protocol,
// specification/protocol/open_inference_grpc.proto), transcribed here field by field: name, number, type
// and repetition. A client generated from the specification must read and write the same bytes.

type Field = [name: string, number: number, type: string]
const R = 'repeated '

const SPEC: Record<string, Field[]> = {
  ServerLiveRequest: [],
  ServerLiveResponse: [['live', 1, 'bool']],
  ServerReadyRequest: [],
  ServerReadyResponse: [['ready', 1, 'bool']],
  ModelReadyRequest: [
    ['name', 1, 'string'],
    ['version', 2, 'string'],
  ],
  ModelReadyResponse: [['ready', 1, 'bool']],
  ServerMetadataRequest: [],
  ServerMetadataResponse: [
    ['name', 1, 'string'],
    ['version', 2, 'string'],
    ['extensions', 3, `${R}string`],
  ],
  ModelMetadataRequest: [
    ['name', 1, 'string'],
    ['version', 2, 'string'],
  ],
  ModelMetadataResponse: [
    ['name', 1, 'string'],
    ['versions', 2, `${R}string`],
    ['platform', 3, 'string'],
    ['inputs', 4, `${R}TensorMetadata`],
    ['outputs', 5, `${R}TensorMetadata`],
    ['properties', 6, 'map<string, string>'],
  ],
  'ModelMetadataResponse.TensorMetadata': [
    ['name', 1, 'string'],
    ['datatype', 2, 'string'],
    ['shape', 3, `${R}int64`],
  ],
  ModelInferRequest: [
    ['model_name', 1, 'string'],
    ['model_version', 2, 'string'],
    ['id', 3, 'string'],
    ['parameters', 4, 'map<string, InferParameter>'],
    ['inputs', 5, `${R}InferInputTensor`],
    ['outputs', 6, `${R}InferRequestedOutputTensor`],
    ['raw_input_contents', 7, `${R}bytes`],
  ],
  'ModelInferRequest.InferInputTensor': [
    ['name', 1, 'string'],
    ['datatype', 2, 'string'],
    ['shape', 3, `${R}int64`],
    ['parameters', 4, 'map<string, InferParameter>'],
    ['contents', 5, 'InferTensorContents'],
  ],
  'ModelInferRequest.InferRequestedOutputTensor': [
    ['name', 1, 'string'],
    ['parameters', 2, 'map<string, InferParameter>'],
  ],
  ModelInferResponse: [
    ['model_name', 1, 'string'],
    ['model_version', 2, 'string'],
    ['id', 3, 'string'],
    ['parameters', 4, 'map<string, InferParameter>'],
    ['outputs', 5, `${R}InferOutputTensor`],
    ['raw_output_contents', 6, `${R}bytes`],
  ],
  'ModelInferResponse.InferOutputTensor': [
    ['name', 1, 'string'],
    ['datatype', 2, 'string'],
    ['shape', 3, `${R}int64`],
    ['parameters', 4, 'map<string, InferParameter>'],
    ['contents', 5, 'InferTensorContents'],
  ],
  InferParameter: [
    ['bool_param', 1, 'bool'],
    ['int64_param', 2, 'int64'],
    ['string_param', 3, 'string'],
    ['double_param', 4, 'double'],
    ['uint64_param', 5, 'uint64'],
  ],
  InferTensorContents: [
    ['bool_contents', 1, `${R}bool`],
    ['int_contents', 2, `${R}int32`],
    ['int64_contents', 3, `${R}int64`],
    ['uint_contents', 4, `${R}uint32`],
    ['uint64_contents', 5, `${R}uint64`],
    ['fp32_contents', 6, `${R}float`],
    ['fp64_contents', 7, `${R}double`],
    ['bytes_contents', 8, `${R}bytes`],
  ],
}

// Triton's extensions (triton-inference-server/common, protobuf/grpc_service.proto), transcribed the same way.
const DURATION = 'StatisticDuration'
Object.assign(SPEC, {
  ModelStatisticsRequest: [
    ['name', 1, 'string'],
    ['version', 2, 'string'],
  ],
  StatisticDuration: [
    ['count', 1, 'uint64'],
    ['ns', 2, 'uint64'],
  ],
  InferStatistics: [
    ['success', 1, DURATION],
    ['fail', 2, DURATION],
    ['queue', 3, DURATION],
    ['compute_input', 4, DURATION],
    ['compute_infer', 5, DURATION],
    ['compute_output', 6, DURATION],
  ],
  InferBatchStatistics: [
    ['batch_size', 1, 'uint64'],
    ['compute_input', 2, DURATION],
    ['compute_infer', 3, DURATION],
    ['compute_output', 4, DURATION],
  ],
  ModelStatistics: [
    ['name', 1, 'string'],
    ['version', 2, 'string'],
    ['last_inference', 3, 'uint64'],
    ['inference_count', 4, 'uint64'],
    ['execution_count', 5, 'uint64'],
    ['inference_stats', 6, 'InferStatistics'],
    ['batch_stats', 7, `${R}InferBatchStatistics`],
  ],
  ModelStatisticsResponse: [['model_stats', 1, `${R}ModelStatistics`]],
  ModelRepositoryParameter: [
    ['bool_param', 1, 'bool'],
    ['int64_param', 2, 'int64'],
    ['string_param', 3, 'string'],
    ['bytes_param', 4, 'bytes'],
  ],
  RepositoryIndexRequest: [
    ['repository_name', 1, 'string'],
    ['ready', 2, 'bool'],
  ],
  RepositoryIndexResponse: [['models', 1, `${R}ModelIndex`]],
  'RepositoryIndexResponse.ModelIndex': [
    ['name', 1, 'string'],
    ['version', 2, 'string'],
    ['state', 3, 'string'],
    ['reason', 4, 'string'],
  ],
  RepositoryModelLoadRequest: [
    ['repository_name', 1, 'string'],
    ['model_name', 2, 'string'],
    ['parameters', 3, 'map<string, ModelRepositoryParameter>'],
  ],
  RepositoryModelLoadResponse: [],
  RepositoryModelUnloadRequest: [
    ['repository_name', 1, 'string'],
    ['model_name', 2, 'string'],
    ['parameters', 3, 'map<string, ModelRepositoryParameter>'],
  ],
  RepositoryModelUnloadResponse: [],
} satisfies Record<string, Field[]>)

const RPCS = [
  'ServerLive',
  'ServerReady',
  'ModelReady',
  'ServerMetadata',
  'ModelMetadata',
  'ModelInfer',
  'ModelStatistics',
  'RepositoryIndex',
  'RepositoryModelLoad',
  'RepositoryModelUnload',
]

interface FieldDescriptor {
  name: string
  number: number
  label: string
  type: string
  typeName: string
  oneofIndex?: number
}
interface MessageDescriptor {
  name: string
  options: { mapEntry?: boolean } | null
  field: FieldDescriptor[]
  nestedType: MessageDescriptor[]
  oneofDecl: Array<{ name: string }>
}

const definition = loadSync(OPEN_INFERENCE_PROTO_PATH, { keepCase: true })

function describeMessage(path: string): MessageDescriptor {
  const [top, ...nested] = path.split('.')
  let message = (definition[`inference.${top}`] as unknown as { type: MessageDescriptor }).type
  for (const name of nested) message = message.nestedType.find((n) => n.name === name) as MessageDescriptor
  return message
}

/** A field's type as the .proto writes it: `repeated int64`, `InferTensorContents`, `map<string, string>`. */
function typeOf(f: FieldDescriptor, message: MessageDescriptor): string {
  const scalar = (d: FieldDescriptor) =>
    d.type === 'TYPE_MESSAGE' ? d.typeName : d.type.replace('TYPE_', '').toLowerCase()
  // proto-loader names message types relative to their scope; a map is a repeated nested entry message.
  const entry = message.nestedType.find((n) => n.name === f.typeName && n.options?.mapEntry)
  if (entry)
    return `map<${scalar(entry.field[0] as FieldDescriptor)}, ${scalar(entry.field[1] as FieldDescriptor)}>`
  return `${f.label === 'LABEL_REPEATED' ? R : ''}${scalar(f)}`
}

function fieldsOf(message: MessageDescriptor): Field[] {
  return message.field.map((f) => [f.name, f.number, typeOf(f, message)])
}

describe('open_inference_grpc.proto against the specification', () => {
  it('declares package inference, service GRPCInferenceService and its RPCs in order', () => {
    const service = definition['inference.GRPCInferenceService'] as Record<string, { path: string }>
    expect(Object.keys(service)).toEqual(RPCS)
    for (const rpc of RPCS) expect(service[rpc]?.path).toBe(`/inference.GRPCInferenceService/${rpc}`)
  })

  it.each(Object.keys(SPEC))("%s: every field with the specification's name, number and type", (name) => {
    expect(fieldsOf(describeMessage(name))).toEqual(SPEC[name])
  })

  it('keeps InferParameter a oneof named parameter_choice', () => {
    const parameter = describeMessage('InferParameter')
    expect(parameter.oneofDecl.map((o) => o.name)).toEqual(['parameter_choice'])
    expect(parameter.field.every((f) => f.oneofIndex === 0)).toBe(true)
  })

  it('has no message the specification does not', () => {
    const messages = Object.keys(definition)
      .filter((k) => k !== 'inference.GRPCInferenceService')
      .map((k) => k.replace('inference.', ''))
    expect(messages.sort()).toEqual(
      Object.keys(SPEC)
        .filter((k) => !k.includes('.'))
        .sort(),
    )
  })
})
