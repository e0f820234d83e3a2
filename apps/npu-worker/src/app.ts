import type { ErrorBody } from '@npu-fleet/protocol'
import Fastify, { type FastifyError, type FastifyInstance, type FastifyServerOptions } from 'fastify'
import type { InferenceBackend } from './backends/backend.js'
import type { WorkerConfig } from './config.js'
import {
  ErrInternal,
  ErrMalformedBody,
  ErrPayloadTooLarge,
  ErrRouteNotFound,
  ErrUnsupportedMediaType,
} from './errors.js'
import authPlugin from './plugins/auth.js'
import lifecyclePlugin from './plugins/lifecycle.js'
import metricsPlugin from './plugins/metrics.js'
import registryPlugin from './plugins/registry.js'
import schedulerPlugin from './plugins/scheduler.js'
import tasksPlugin from './plugins/tasks.js'
import healthRoutes from './routes/health.js'
import kserveRoutes from './routes/kserve.js'
import metricsRoutes from './routes/metrics.js'
import testHookRoutes from './routes/test-hooks.js'

/** Options of `buildApp`. */
export interface BuildAppOptions {
  config: WorkerConfig
  /** Fastify logger option (a pino config or instance); server.ts passes its logger. */
  logger?: FastifyServerOptions['loggerInstance'] | boolean
  /** Injected runtimes (tests); default: the real OpenVINO and ONNX Runtime backends. */
  backends?: { openvino: InferenceBackend; onnxruntime: InferenceBackend }
}

declare module 'fastify' {
  interface FastifyInstance {
    workerConfig: WorkerConfig
  }
}

/** Fastify's own errors, mapped onto the worker's stable codes. */
const FASTIFY_ERRORS: Record<string, (e: FastifyError) => FastifyError> = {
  FST_ERR_CTP_INVALID_JSON_BODY: (e) => new ErrMalformedBody(e.message),
  FST_ERR_CTP_EMPTY_JSON_BODY: () => new ErrMalformedBody('empty body with content-type application/json'),
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: (e) => new ErrMalformedBody(e.message),
  FST_ERR_CTP_BODY_TOO_LARGE: () => new ErrPayloadTooLarge('the configured'),
  FST_ERR_CTP_INVALID_MEDIA_TYPE: (e) =>
    new ErrUnsupportedMediaType(e.message.replace(/^Unsupported Media Type: /, '')),
  FST_ERR_CTP_INVALID_TYPE: (e) => new ErrMalformedBody(e.message),
}

/**
 * Builds the worker's Fastify app. Order: support plugins (config, lifecycle, metrics, registry,
 * scheduler, tasks), auth, routes, then the error and not-found handlers. Nothing here touches `process`.
 */
export async function buildApp(options: BuildAppOptions): Promise<FastifyInstance> {
  const { config } = options
  const app = Fastify({
    ...(typeof options.logger === 'object'
      ? { loggerInstance: options.logger }
      : { logger: options.logger ?? false }),
    bodyLimit: config.body_limit_bytes,
    requestIdHeader: 'x-request-id',
    genReqId: () => crypto.randomUUID(),
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    routerOptions: { maxParamLength: 256 },
  })

  // Support plugins: state and services the routes use.
  app.decorate('workerConfig', config)
  await app.register(lifecyclePlugin)
  await app.register(metricsPlugin)
  await app.register(registryPlugin, { config, ...(options.backends ? { backends: options.backends } : {}) })
  await app.register(schedulerPlugin, { config })
  await app.register(tasksPlugin)

  // Authentication before any route runs.
  await app.register(authPlugin, { token: config.auth_token })
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id)
  })

  // Routes.
  await app.register(healthRoutes)
  await app.register(metricsRoutes)
  await app.register(kserveRoutes)
  if (config.test_hooks) await app.register(testHookRoutes)

  // One error shape for everything: {"error", "code"}; 5xx details go to the log only.
  app.setErrorHandler((rawError: FastifyError, request, reply) => {
    let error = rawError
    const mapped = error.code ? FASTIFY_ERRORS[error.code] : undefined
    if (mapped) error = mapped(error)
    else if (error.validation) error = new ErrMalformedBody(error.message)
    if (!error.code?.startsWith('NPU_ERR_')) {
      request.log.error({ err: rawError }, 'unhandled error')
      error = new ErrInternal()
    } else if ((error.statusCode ?? 500) >= 500) {
      request.log.warn({ err: error }, error.message)
    }
    const retryAfter = (error as { retryAfterSeconds?: number }).retryAfterSeconds
    if (retryAfter !== undefined) reply.header('retry-after', String(retryAfter))
    const body: ErrorBody = { error: error.message, code: error.code }
    return reply.code(error.statusCode ?? 500).send(body)
  })
  app.setNotFoundHandler((request, reply) => {
    const error = new ErrRouteNotFound(request.method, request.url.split('?')[0])
    const body: ErrorBody = { error: error.message, code: error.code }
    return reply.code(404).send(body)
  })

  return app
}
