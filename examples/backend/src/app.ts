import {
  isPoolError,
  NpuWorkerPool,
  npuPoolAdmin,
  type PoolError,
  type PoolFailure,
  StreamInterruptedError,
} from '@npu-fleet/pool'
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify'

/** Options of {@link buildBackend}. */
export interface BackendOptions {
  /** Worker config file (either YAML form); missing → one worker from NPU_WORKER_URL. */
  configPath?: string
  /** Or a config document instead of a file (tests). */
  config?: unknown
  /** Bearer token of the pool admin routes (at least 16 characters). */
  adminToken: string
  /** Reload the config file when it changes. */
  watchConfig?: boolean
  logLevel?: string
}

/** The backend with its pool (closed with the app). */
export interface Backend {
  app: FastifyInstance
  pool: NpuWorkerPool
}

/**
 * The example backend: one Fastify app that owns an `NpuWorkerPool` (logging through the app's logger),
 * mounts the pool admin routes, and exposes its own routes that send work to the fleet and turn a pool
 * failure into an answer the client can act on (503 + `fallback: true`, or the worker's 4xx for bad input).
 */
export async function buildBackend(options: BackendOptions): Promise<Backend> {
  const app = Fastify({ logger: { level: options.logLevel ?? 'info' } })
  const pool = new NpuWorkerPool({
    configPath: options.configPath,
    config: options.config,
    logger: app.log,
    watch: options.watchConfig ?? false,
  })
  await pool.initialize()
  app.addHook('onClose', async () => {
    await pool.close()
  })

  await app.register(npuPoolAdmin, { pool, token: options.adminToken })

  app.get('/healthz', async (_request, reply) => {
    const stats = pool.getStats()
    return reply
      .code(stats.healthyWorkers > 0 ? 200 : 503)
      .send({ status: stats.healthyWorkers > 0 ? 'ok' : 'no-workers', healthy_workers: stats.healthyWorkers })
  })

  app.post<{ Params: { type: string } }>('/api/tasks/:type', async (request, reply) => {
    const r = await pool.executeTask(request.params.type, request.body ?? {}, { timeoutMs: 30_000 })
    if (!r.success) return sendFailure(reply, r)
    return { result: r.result, worker: r.workerId, model: r.model, device: r.device, attempts: r.attempts }
  })

  app.post<{ Params: { model: string } }>('/api/infer/:model', async (request, reply) => {
    const r = await pool.infer(request.params.model, request.body ?? {}, { timeoutMs: 10_000 })
    if (!r.success) return sendFailure(reply, r)
    return { outputs: r.result.outputs, worker: r.workerId, attempts: r.attempts }
  })

  // The seeds' text_analysis call, through the pool: which worker and device answered comes back with it.
  app.post<{ Body: { text?: unknown; max_tokens?: unknown; model_id?: unknown } }>(
    '/api/text/analyze',
    async (request, reply) => {
      const body = request.body ?? {}
      const r = await pool.executeTask('text_analysis', body as { text: string }, { timeoutMs: 60_000 })
      if (!r.success) return sendFailure(reply, r)
      return { result: r.result, worker: r.workerId, model: r.model, backend: r.backend, device: r.device }
    },
  )

  // A chat streamed to this backend's own client as server-sent events (OpenAI's chunks, then [DONE]). A
  // failure before the first chunk is an ordinary HTTP error; after it, the stream's last event is the error
  // with the text sent so far. A client that goes away cancels the generation on the worker.
  app.post<{ Body: { model?: string; messages?: unknown; max_tokens?: number } }>(
    '/api/chat/stream',
    async (request, reply) => {
      const { model = 'tiny-llama-chat', messages, max_tokens } = request.body ?? {}
      const gone = new AbortController()
      // The response's close, not the request's: a request closes once its body has been read.
      reply.raw.once('close', () => {
        if (!reply.raw.writableFinished) gone.abort()
      })
      const chunks = pool
        .stream(model, messages as never, {
          ...(max_tokens === undefined ? {} : { max_tokens }),
          signal: gone.signal,
          timeoutMs: 120_000,
        })
        [Symbol.asyncIterator]()
      let first: IteratorResult<unknown>
      try {
        first = await chunks.next()
      } catch (error) {
        if (!isPoolError(error)) throw error
        return sendFailure(reply, failureOf(error as PoolError))
      }
      reply.hijack()
      reply.raw.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache',
      })
      try {
        for (let next = first; !next.done; next = await chunks.next()) {
          reply.raw.write(`data: ${JSON.stringify(next.value)}\n\n`)
        }
        reply.raw.write('data: [DONE]\n\n')
      } catch (error) {
        if (!isPoolError(error)) throw error
        const partial = error instanceof StreamInterruptedError ? { partial_text: error.partialText } : {}
        reply.raw.write(
          `data: ${JSON.stringify({ error: { message: error.message, code: error.code, ...partial } })}\n\n`,
        )
      } finally {
        await chunks.return?.()
        reply.raw.end()
      }
    },
  )

  return { app, pool }
}

/** A stream's thrown PoolError as the failure envelope the other routes answer with. */
function failureOf(error: PoolError): PoolFailure {
  return {
    success: false,
    error: error.message,
    code: error.code,
    fallback: true,
    attempts: 0,
    details: error.details,
  }
}

/** Bad input keeps the worker's 4xx and code; anything else is the fleet failing: 503, fall back. */
function sendFailure(reply: FastifyReply, failure: PoolFailure) {
  const details = failure.details ?? {}
  if (failure.code === 'POOL_ERR_WORKER_REJECTED' && typeof details.status === 'number') {
    return reply.code(details.status).send({ error: failure.error, code: details.workerCode ?? failure.code })
  }
  if (failure.code === 'POOL_ERR_BAD_ARGUMENT')
    return reply.code(400).send({ error: failure.error, code: failure.code })
  return reply
    .code(503)
    .header('retry-after', '1')
    .send({ error: failure.error, code: failure.code, fallback: true })
}
