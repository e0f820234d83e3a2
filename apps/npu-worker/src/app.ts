import { randomUUID } from 'node:crypto'
import type { ErrorBody } from '@npu-fleet/protocol'
import Fastify, {
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type FastifyServerOptions,
  LogController,
} from 'fastify'
import { OnnxRuntimeBackend } from './backends/onnxruntime.js'
import { OpenvinoBackend } from './backends/openvino.js'
import type { WorkerConfig } from './config.js'
import { errorDataOf } from './error-data.js'
import {
  ErrBadRequest,
  ErrInternal,
  ErrMalformedBody,
  ErrPayloadTooLarge,
  ErrRouteNotFound,
  ErrUnsupportedMediaType,
} from './errors.js'
import { OnnxGenerationBackend } from './generation/onnx-generation-backend.js'
import { OpenvinoGenaiBackend } from './generation/openvino-genai-backend.js'
import { ConnectionPacing } from './http/connection-pacing.js'
import { lingerOnEarlyClose } from './http/lingering-close.js'
import { isOpenAiPath, openAiErrorBody } from './openai/openai-error.js'
import authPlugin from './plugins/auth.js'
import configPlugin from './plugins/config.js'
import generationPlugin from './plugins/generation.js'
import lifecyclePlugin from './plugins/lifecycle.js'
import metricsPlugin from './plugins/metrics.js'
import pipelinesPlugin from './plugins/pipelines.js'
import registryPlugin, { type RegistryBackends } from './plugins/registry.js'
import repositoryPlugin from './plugins/repository.js'
import schedulerPlugin from './plugins/scheduler.js'
import tasksPlugin from './plugins/tasks.js'
import healthRoutes from './routes/health.js'
import kserveInferRoutes from './routes/kserve-infer.js'
import kserveMetadataRoutes from './routes/kserve-metadata.js'
import kserveRepositoryRoutes from './routes/kserve-repository.js'
import legacyRoutes from './routes/legacy.js'
import metricsRoutes from './routes/metrics.js'
import openAiEmbeddingsRoutes from './routes/openai-embeddings.js'
import openAiGenerationRoutes from './routes/openai-generation.js'
import openAiModelsRoutes from './routes/openai-models.js'
import taskRoutes from './routes/tasks.js'
import testHookRoutes from './routes/test-hooks.js'
import { COMPILED_THREAD_ENTRIES, type ThreadEntries } from './threads/thread-entries.js'

/** Options of `buildApp`. */
export interface BuildAppOptions {
  config: WorkerConfig
  /** Fastify logger option (a pino config or instance); server.ts passes its logger. */
  logger?: FastifyServerOptions['loggerInstance'] | boolean
  /**
   * Injected runtimes (tests); default: the real OpenVINO (loaded lazily) and ONNX Runtime backends, or under
   * `test_hooks` the ones they ask for (a fake OpenVINO, fault injection: src/testing/test-backends.ts).
   */
  backends?: RegistryBackends
  /** Compiled thread entry files; default: the ones beside the compiled app. Tests running src/ pass dist's. */
  threadEntries?: ThreadEntries
}

/** The runtimes of a worker, composed here and nowhere else. */
async function composeBackends(config: WorkerConfig, entries: ThreadEntries): Promise<RegistryBackends> {
  if (config.test_hooks) {
    // Loaded only with test hooks on: no test code is even imported by a production worker.
    const { createTestBackends } = await import('./testing/test-backends.js')
    return createTestBackends(config.test_hooks, entries)
  }
  return {
    openvino: new OpenvinoBackend(),
    onnxruntime: new OnnxRuntimeBackend({ threadEntry: entries.onnxruntime }),
    generation: {
      genai: new OpenvinoGenaiBackend(),
      onnxruntime: new OnnxGenerationBackend({ threadEntry: entries.generation }),
    },
  }
}

/** Fastify's own errors, mapped onto the worker's stable codes. */
function mapFastifyError(
  error: FastifyError,
  bodyLimit: number,
  contentType: string | undefined,
): FastifyError | null {
  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
    case 'FST_ERR_CTP_INVALID_TYPE':
      return new ErrMalformedBody(error.message)
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new ErrMalformedBody('empty body with content-type application/json')
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ErrPayloadTooLarge(bodyLimit)
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new ErrUnsupportedMediaType(`${contentType ?? '(none)'}; send application/json`)
  }
  // Schema validation: Fastify's message already names the field ("body/inputs must be array").
  if (error.validation) return new ErrMalformedBody(error.message)
  // Any other 4xx Fastify raises before our code runs (bad URL encoding, bad header) stays a client error.
  const status = error.statusCode ?? 500
  if (!error.code?.startsWith('NPU_ERR_') && status >= 400 && status < 500)
    return new ErrBadRequest(error.message)
  return null
}

/** A client-chosen request id is echoed and logged, so only short, plain ids are trusted (no log injection). */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/

function requestId(request: { headers: Record<string, string | string[] | undefined> }): string {
  const given = request.headers['x-request-id']
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID()
}

/** Log levels at which the per-request debug line is written. */
const DEBUG_LEVELS = new Set(['debug', 'trace'])

/** 5xx worth a warning; 503 is back-pressure (queue full, starting, draining), expected under load. */
function isServerFault(status: number): boolean {
  return status >= 500 && status !== 503
}

function sendError(reply: FastifyReply, error: FastifyError): FastifyReply {
  const { retryAfterSeconds, details } = errorDataOf(error)
  if (retryAfterSeconds !== undefined) reply.header('retry-after', String(retryAfterSeconds))
  reply.code(error.statusCode ?? 500)
  // The OpenAI-compatible routes answer in the shape OpenAI's SDKs parse, with our code in `error.code`.
  if (isOpenAiPath(reply.request.url)) return reply.send(openAiErrorBody(error))
  const body: ErrorBody = { error: error.message, code: error.code, ...(details ? { details } : {}) }
  return reply.send(body)
}

/**
 * Builds the worker's Fastify app. Order: support plugins (config, lifecycle, metrics, registry,
 * scheduler, repository, tasks), auth, routes, then the error and not-found handlers. Nothing here touches `process`.
 */
export async function buildApp(options: BuildAppOptions): Promise<FastifyInstance> {
  const { config } = options
  const bodyLimit = config.body_limit_bytes
  const app = Fastify({
    ...(typeof options.logger === 'object'
      ? { loggerInstance: options.logger }
      : { logger: options.logger ?? false }),
    bodyLimit,
    requestIdHeader: false,
    genReqId: requestId,
    // Our routes answer while draining (health 503 `draining`, inference 503 NPU_ERR_NOT_SERVING, both in
    // our error shape); Fastify's own closing reply has no `code` and would break clients that parse it.
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    // Two info lines per request would cost more than a small inference; one line per request at debug
    // (below) keeps them available, and /metrics counts every request anyway.
    logController: new LogController({ disableRequestLogging: true }),
    routerOptions: { maxParamLength: 256 },
    // Errors raised before routing (undecodable URL...) get the same body shape as every other error.
    frameworkErrors: (error, _request: FastifyRequest, reply: FastifyReply) =>
      sendError(reply, new ErrBadRequest(error.message)),
  })

  // Support plugins: state and services the routes use.
  await app.register(configPlugin, { config })
  await app.register(lifecyclePlugin)
  await app.register(metricsPlugin)
  const threadEntries = options.threadEntries ?? COMPILED_THREAD_ENTRIES
  const backends = options.backends ?? (await composeBackends(config, threadEntries))
  await app.register(registryPlugin, { config, backends })
  await app.register(schedulerPlugin, { config })
  await app.register(repositoryPlugin, { config })
  await app.register(generationPlugin, { config })
  await app.register(tasksPlugin)
  await app.register(pipelinesPlugin)

  // Authentication before any route runs.
  await app.register(authPlugin, { token: config.auth_token })
  // Hooks on every request take the callback form: an async hook costs a promise and a microtask per request.
  app.addHook('onSend', (request, reply, payload, done) => {
    reply.header('x-request-id', request.id)
    done(null, payload)
  })
  // An answer sent before the body was read (413, a refusal before the body) closes its connection without
  // resetting a client that is still sending (http/lingering-close.ts).
  lingerOnEarlyClose(app)
  // A burst of new connections starts reading a few per turn of the event loop, so the open ones (a /health
  // probe's) are not kept waiting behind all of their first reads (http/connection-pacing.ts).
  new ConnectionPacing(app.server)
  app.addHook('onResponse', (request, reply, done) => {
    // Server errors are logged with their cause by the error handler; this line ties them to the request. The
    // fields are built only when the line is written (debug is off in production).
    const fault = isServerFault(reply.statusCode)
    if (fault || DEBUG_LEVELS.has(request.log.level)) {
      const fields = {
        method: request.method,
        url: request.url,
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime * 100) / 100,
      }
      if (fault) request.log.warn(fields, 'request failed')
      else request.log.debug(fields, 'request completed')
    }
    done()
  })

  // Routes. Not awaited on purpose: they load at ready(), after the handlers below are set, so their
  // encapsulated contexts inherit our error handler (an awaited register would capture Fastify's default).
  app.register(healthRoutes)
  app.register(metricsRoutes)
  app.register(kserveMetadataRoutes)
  app.register(kserveInferRoutes, { jsonCodecEntry: threadEntries.jsonCodec })
  app.register(kserveRepositoryRoutes)
  app.register(taskRoutes)
  app.register(openAiEmbeddingsRoutes)
  app.register(openAiGenerationRoutes)
  app.register(openAiModelsRoutes)
  app.register(legacyRoutes)
  if (config.test_hooks?.freeze_route) app.register(testHookRoutes)

  // One error shape for everything: {"error", "code"}; 5xx details go to the log only.
  app.setErrorHandler((rawError: FastifyError, request, reply) => {
    let error = mapFastifyError(rawError, bodyLimit, request.headers['content-type']) ?? rawError
    if (!error.code?.startsWith('NPU_ERR_')) {
      request.log.error({ err: rawError }, 'unhandled error')
      error = new ErrInternal()
    } else if (isServerFault(error.statusCode ?? 500)) {
      request.log.warn({ err: error }, error.message)
    }
    return sendError(reply, error)
  })
  app.setNotFoundHandler((request, reply) =>
    sendError(reply, new ErrRouteNotFound(request.method, request.url.split('?')[0])),
  )

  return app
}
