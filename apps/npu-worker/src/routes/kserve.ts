import {
  INFERENCE_HEADER_CONTENT_LENGTH,
  type InferRequest,
  InferRequestSchema,
  type InferResponse,
  type ModelMetadata,
  type ServerMetadata,
  type TensorMetadata,
} from '@npu-fleet/protocol'
import type { FastifyInstance, FastifyPluginAsync } from 'fastify'
import {
  ErrBadInferRequest,
  ErrBadModelName,
  ErrMalformedBody,
  ErrModelNotFound,
  ErrNotServing,
  ErrUnsupportedMediaType,
  ErrVersionNotFound,
} from '../errors.js'
import { formatIssues } from '../format-issues.js'
import { frameBinaryResponse, type InferBody, readInferBody } from '../kserve/binary-body.js'
import { JsonCodecPool, OFF_THREAD_JSON_ELEMENTS } from '../kserve/json-codec-pool.js'
import { decodeInputs, encodeOutput, encodeOutputBinary } from '../kserve/tensor-codec.js'
import { isValidModelName } from '../models/model-repository.js'
import type { RegisteredModel } from '../models/registered-model.js'
import { requestDeadline } from '../scheduler/request-deadline.js'
import { WORKER_VERSION } from '../worker-version.js'

interface ModelParams {
  name: string
  version?: string
}

/** Finds a model version for a route, or throws the 400/404 the protocol asks for. */
function findModel(app: FastifyInstance, { name, version }: ModelParams): RegisteredModel {
  if (!isValidModelName(name)) throw new ErrBadModelName(JSON.stringify(name))
  if (version !== undefined && !/^[1-9][0-9]{0,8}$/.test(version))
    throw new ErrBadModelName(JSON.stringify(version))
  if (app.registry.versions(name).length === 0) throw new ErrModelNotFound(name)
  const model = app.registry.resolve(name, version)
  if (!model) throw new ErrVersionNotFound(name, version)
  return model
}

function tensorMetadata(model: RegisteredModel): { inputs: TensorMetadata[]; outputs: TensorMetadata[] } {
  // Metadata describes the loaded model, also while it recovers; only a model never loaded has none.
  const loaded = model.serving()?.model
  if (!loaded) throw model.notReadyError()
  const meta = (t: { name: string; datatype: TensorMetadata['datatype']; shape: number[] }) => ({
    name: t.name,
    datatype: t.datatype,
    shape: [...t.shape],
  })
  return { inputs: loaded.inputs.map(meta), outputs: loaded.outputs.map(meta) }
}

/** Reads a boolean protocol parameter; anything but a boolean is a 400 naming the field. */
function flag(value: unknown, field: string): boolean | undefined {
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'boolean')
    throw new ErrBadInferRequest(`${field}: expected true or false, got ${JSON.stringify(value)}`)
  return value
}

/** Whether output `name` goes in the binary part: its own `binary_data`, else the request's `binary_data_output`. */
function wantsBinary(body: InferRequest, name: string): boolean {
  const index = body.outputs?.findIndex((o) => o.name === name) ?? -1
  const own =
    index >= 0
      ? flag(body.outputs?.[index]?.parameters?.binary_data, `outputs[${index}].parameters.binary_data`)
      : undefined
  return own ?? flag(body.parameters?.binary_data_output, 'parameters.binary_data_output') ?? false
}

/** Options of the KServe routes. */
export interface KserveRoutesOptions {
  /** The compiled JSON codec thread entry (threads/thread-entries.ts). */
  jsonCodecEntry: URL
}

/** KServe v2 / Open Inference Protocol REST routes, as OpenVINO Model Server and Triton serve them. */
const kserveRoutes: FastifyPluginAsync<KserveRoutesOptions> = async (app, options) => {
  // Infer bodies are read as bytes: with the binary tensor extension (Inference-Header-Content-Length) the
  // JSON part is followed by raw tensor bytes, under any content type (Triton's client sends none).
  const parseJson = app.getDefaultJsonParser('error', 'error')
  const jsonText = (text: string): unknown => {
    let result: unknown
    let failure: Error | undefined
    parseJson({} as never, text, (error, value) => {
      failure = error ?? undefined
      result = value
    })
    if (failure) throw failure
    return result
  }
  // Large JSON bodies are parsed and decoded on a thread of their own (json-codec-pool.ts).
  const jsonPool = new JsonCodecPool(options.jsonCodecEntry)
  app.addHook('onClose', () => jsonPool.close())
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', (request, payload, done) => {
    const contentType = request.headers['content-type']
    const binary = request.headers[INFERENCE_HEADER_CONTENT_LENGTH]
    // Another media type is refused by the handler, after the model name is checked (404 before 415).
    if (binary === undefined && contentType !== undefined && !/^application\/json\b/i.test(contentType)) {
      payload.resume()
      done(null, { json: undefined, binary: null, unsupportedType: contentType } satisfies InferBody)
      return
    }
    const limit = request.routeOptions.bodyLimit ?? app.initialConfig.bodyLimit ?? 1_048_576
    readInferBody(payload, request.headers, limit, jsonText, jsonPool).then(
      (body) => done(null, body),
      (error: Error) => done(error),
    )
  })

  app.get('/v2/health/live', async () => ({ live: true }))

  app.get('/v2/health/ready', async (_request, reply) => {
    const ready = app.lifecycle.state === 'serving' && app.registry.all().some((m) => m.ready() !== null)
    return reply.code(ready ? 200 : 503).send({ ready })
  })

  app.get(
    '/v2',
    async (): Promise<ServerMetadata> => ({
      name: 'npu-worker',
      version: WORKER_VERSION,
      extensions: ['binary_tensor_data'],
    }),
  )

  const metadata = async (request: { params: ModelParams }): Promise<ModelMetadata> => {
    const model = findModel(app, request.params)
    const platform = model.modelPath.endsWith('.xml') ? 'openvino_ir' : 'onnx'
    return {
      name: model.name,
      versions: app.registry.versions(model.name).map((m) => m.version),
      platform,
      ...tensorMetadata(model),
    }
  }
  app.get<{ Params: ModelParams }>('/v2/models/:name', metadata)
  app.get<{ Params: ModelParams }>('/v2/models/:name/versions/:version', metadata)

  const ready = async (
    request: { params: ModelParams },
    reply: { code: (c: number) => { send: (b: unknown) => unknown } },
  ) => {
    const model = findModel(app, request.params)
    const isReady = model.ready() !== null && app.lifecycle.state !== 'draining'
    return reply.code(isReady ? 200 : 503).send({ name: model.name, version: model.version, ready: isReady })
  }
  app.get<{ Params: ModelParams }>('/v2/models/:name/ready', ready)
  app.get<{ Params: ModelParams }>('/v2/models/:name/versions/:version/ready', ready)

  const infer = async (
    request: import('fastify').FastifyRequest<{ Params: ModelParams }>,
    reply: import('fastify').FastifyReply,
  ): Promise<InferResponse> => {
    if (app.lifecycle.state !== 'serving') throw new ErrNotServing(app.lifecycle.state)
    const model = findModel(app, request.params)
    const { json, binary, binaryOwned, preDecoded, unsupportedType } = (request.body as
      | InferBody
      | undefined) ?? {
      json: undefined,
      binary: null,
    }
    if (unsupportedType !== undefined) {
      throw new ErrUnsupportedMediaType(
        `${unsupportedType} (send application/json, or the binary tensor extension with ${INFERENCE_HEADER_CONTENT_LENGTH})`,
      )
    }
    if (json === undefined || json === null || typeof json !== 'object' || Array.isArray(json)) {
      throw new ErrMalformedBody('expected a JSON object with "inputs"')
    }
    let body: InferRequest
    if (preDecoded)
      body = json as InferRequest // validated by the JSON thread, data already typed
    else {
      const parsed = InferRequestSchema.safeParse(json)
      if (!parsed.success) throw new ErrBadInferRequest(formatIssues(parsed.error))
      body = parsed.data
    }
    const loaded = model.ready()
    if (!loaded) throw model.notReadyError()

    const inputs = decodeInputs(body.inputs, loaded.inputs, binary, binaryOwned === true)
    if (body.outputs?.length === 0) {
      throw new ErrBadInferRequest('outputs: must name at least one output, or be left out for all outputs')
    }
    const outputNames = body.outputs?.map((o, i) => {
      if (!loaded.outputs.some((info) => info.name === o.name)) {
        throw new ErrBadInferRequest(
          `outputs[${i}].name: unknown output "${o.name}"; model outputs: ${loaded.outputs.map((info) => info.name).join(', ')}`,
        )
      }
      return o.name
    })
    const { deadlineMs, signal } = requestDeadline(
      request,
      reply,
      app.workerConfig.request_timeout_ms,
      body.parameters?.timeout,
    )
    // The decoded tensors are this request's alone: the backend may take their buffers without a copy.
    const outputs = await app.scheduler.run(model, inputs, {
      outputNames,
      signal,
      deadlineMs,
      transferInputs: true,
    })
    const names = outputNames ?? loaded.outputs.map((o) => o.name)
    const response: InferResponse = {
      model_name: model.name,
      model_version: model.version,
      ...(body.id !== undefined ? { id: body.id } : {}),
      outputs: [],
    }
    const tensors = names.map((name) => {
      const tensor = outputs[name]
      if (!tensor) throw new Error(`backend returned no tensor for output ${name}`)
      return { name, tensor, binary: wantsBinary(body, name) }
    })
    // An all-JSON answer with big outputs is written on the JSON thread, not on the event loop.
    const jsonElements = tensors.reduce((sum, t) => sum + (t.binary ? 0 : t.tensor.data.length), 0)
    if (tensors.every((t) => !t.binary) && jsonElements >= OFF_THREAD_JSON_ELEMENTS) {
      const json = await jsonPool.encode(response, tensors)
      reply.type('application/json; charset=utf-8')
      return reply.send(json) as unknown as InferResponse
    }
    const chunks: Uint8Array[] = []
    for (const { name, tensor, binary: asBinary } of tensors) {
      if (asBinary) {
        const { output, bytes } = encodeOutputBinary(name, tensor)
        response.outputs.push(output)
        chunks.push(bytes)
      } else {
        response.outputs.push(encodeOutput(name, tensor))
      }
    }
    if (chunks.length === 0) return response
    const framed = frameBinaryResponse(response, chunks)
    reply.header(INFERENCE_HEADER_CONTENT_LENGTH, String(framed.headerLength))
    reply.header('content-length', String(framed.contentLength))
    reply.type('application/octet-stream')
    return reply.send(framed.body) as unknown as InferResponse
  }
  app.post<{ Params: ModelParams }>('/v2/models/:name/infer', infer)
  app.post<{ Params: ModelParams }>('/v2/models/:name/versions/:version/infer', infer)
}

export default kserveRoutes
