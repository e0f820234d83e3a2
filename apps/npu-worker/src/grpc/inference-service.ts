import {
  type handleUnaryCall,
  type Metadata,
  type ServerUnaryCall,
  type StatusObject,
  status,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js'
import { bearerTokenChecker, WorkerErrorCode } from '@npu-fleet/protocol'
import type { FastifyInstance } from 'fastify'
import { ErrBadRequest, ErrUnauthorized } from '../errors.js'
import { isModelReady, isServerReady, modelMetadata, serverMetadata } from '../kserve/metadata.js'
import { findModel, type ModelRef } from '../kserve/model-lookup.js'
import { runInference } from '../kserve/run-inference.js'
import { modelStatistics } from '../kserve/statistics.js'
import { type RequestDeadline, requestDeadlineMs } from '../scheduler/request-deadline.js'
import { grpcErrorOf, workerCodeOf } from './grpc-status.js'
import { checkAnswerForm, grpcResponseOf, structureGrpcRequest } from './grpc-tensors.js'
import type {
  ModelInferRequest,
  ModelInferResponse,
  ModelMetadataResponse,
  ModelRequest,
} from './inference-messages.js'

/** RPCs that answer without a token, as `/v2/health/live` and `/v2/health/ready` do over REST. */
const PUBLIC_METHODS: ReadonlySet<string> = new Set(['ServerLive', 'ServerReady'])

const STATUS_NAME = Object.fromEntries(Object.entries(status).map(([name, code]) => [code, name])) as Record<
  number,
  string
>

/** A model reference from an RPC: an empty version (proto3's unset string) means "the default version". */
function modelRef(request: ModelRequest): ModelRef {
  return { name: request.name ?? '', version: request.version ? request.version : undefined }
}

/** The call's deadline and cancellation: the gRPC deadline is ours; a cancelled call aborts its queued work. */
function callDeadline(
  call: Pick<ServerUnaryCall<unknown, unknown>, 'getDeadline' | 'cancelled' | 'once'>,
  defaultMs: number,
  parameterMs: number | undefined,
): RequestDeadline {
  const deadline = call.getDeadline()
  const at = deadline instanceof Date ? deadline.getTime() : deadline
  const transportMs = Number.isFinite(at) ? Math.max(1, at - Date.now()) : undefined
  const controller = new AbortController()
  if (call.cancelled) controller.abort()
  else call.once('cancelled', () => controller.abort())
  return { deadlineMs: requestDeadlineMs({ transportMs, parameterMs, defaultMs }), signal: controller.signal }
}

/**
 * The handlers of `inference.GRPCInferenceService` over the app's registry, scheduler, lifecycle, auth and
 * metrics: the same facts and the same inference as the REST routes (kserve/), errors mapped onto gRPC status
 * codes with the worker's code in the `npu-error-code` trailer (grpc-status.ts).
 */
export function createInferenceHandlers(app: FastifyInstance): UntypedServiceImplementation {
  const token = app.workerConfig.auth_token
  const authorized = token ? bearerTokenChecker(token) : () => true

  const unary = <Req, Res>(
    method: string,
    handle: (request: Req, call: ServerUnaryCall<Req, Res>) => Res | Promise<Res>,
  ): handleUnaryCall<Req, Res> => {
    return (call, callback) => {
      const started = performance.now()
      const finish = (error: Partial<StatusObject> | null, response?: Res) => {
        app.metrics.observeGrpcCall(
          method,
          STATUS_NAME[error?.code ?? status.OK] ?? 'UNKNOWN',
          (performance.now() - started) / 1000,
        )
        callback(error, response)
      }
      const run = async () => {
        if (!PUBLIC_METHODS.has(method) && !authorized(firstValue(call.metadata, 'authorization'))) {
          throw new ErrUnauthorized()
        }
        return handle(call.request, call)
      }
      run().then(
        (response) => finish(null, response),
        (error: unknown) => {
          app.metrics.observeErrorAnswer(error, app.lifecycle.state)
          const code = workerCodeOf(error)
          if (code === null) {
            app.log.error({ err: error, grpc_method: method }, 'unhandled error')
            return finish(grpcErrorOf(WorkerErrorCode.INTERNAL, 'Internal error'))
          }
          const failure = grpcErrorOf(code, (error as Error).message, error)
          if (failure.code === status.INTERNAL)
            app.log.warn({ err: error, grpc_method: method }, (error as Error).message)
          finish(failure)
        },
      )
    }
  }

  return {
    ServerLive: unary('ServerLive', () => ({ live: true })),
    ServerReady: unary('ServerReady', () => ({ ready: isServerReady(app.lifecycle, app.registry) })),
    ModelReady: unary('ModelReady', (request: ModelRequest) => ({
      ready: isModelReady(app.lifecycle, findModel(app.registry, modelRef(request))),
    })),
    ServerMetadata: unary('ServerMetadata', () => serverMetadata()),
    ModelMetadata: unary(
      'ModelMetadata',
      (request: ModelRequest): ModelMetadataResponse =>
        modelMetadata(app.registry, findModel(app.registry, modelRef(request))),
    ),
    ModelInfer: unary('ModelInfer', async (request: ModelInferRequest, call): Promise<ModelInferResponse> => {
      const model = findModel(app.registry, {
        name: request.model_name ?? '',
        version: request.model_version || undefined,
      })
      const structured = structureGrpcRequest(request)
      const loaded = model.ready()
      if (loaded) {
        const names = structured.outputs?.map((o) => o.name)
        const answered = names ? loaded.outputs.filter((o) => names.includes(o.name)) : loaded.outputs
        checkAnswerForm(
          structured,
          answered.map((o) => o.datatype),
        )
      }
      const answer = await runInference(
        app,
        model,
        { kind: 'decoded', request: structured },
        {
          rawOutputsByDefault: true,
          deadline: (parameterMs) => callDeadline(call, app.workerConfig.request_timeout_ms, parameterMs),
        },
      )
      return grpcResponseOf(answer)
    }),
    ModelStatistics: unary('ModelStatistics', (request: ModelRequest) =>
      modelStatistics(app.registry, app.metrics.statistics, modelRef(request)),
    ),
    RepositoryIndex: unary('RepositoryIndex', (request: { ready?: boolean }) => ({
      models: app.repository.index(request.ready === true).map((e) => ({ ...e, version: e.version ?? '' })),
    })),
    RepositoryModelLoad: unary('RepositoryModelLoad', async (request: RepositoryModelRequest) => {
      refuseRepositoryParameters(request)
      await app.repository.load(request.model_name ?? '')
      return {}
    }),
    RepositoryModelUnload: unary('RepositoryModelUnload', async (request: RepositoryModelRequest) => {
      refuseRepositoryParameters(request)
      await app.repository.unload(request.model_name ?? '')
      return {}
    }),
  }
}

/** `RepositoryModelLoadRequest` / `RepositoryModelUnloadRequest` as this worker reads them. */
interface RepositoryModelRequest {
  model_name?: string
  parameters?: Record<string, unknown>
}

/** Triton's repository parameters (a config override, model files in the request) are not implemented: refused, never ignored. */
function refuseRepositoryParameters(request: RepositoryModelRequest): void {
  const names = Object.keys(request.parameters ?? {})
  if (names.length > 0)
    throw new ErrBadRequest(`parameters: ${names.join(', ')}: repository parameters are not supported`)
}

function firstValue(metadata: Metadata, key: string): string | undefined {
  const [value] = metadata.get(key)
  return typeof value === 'string' ? value : undefined
}
