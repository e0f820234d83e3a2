import { NpuWorkerPool, npuPoolAdmin, type PoolFailure } from '@npu-fleet/pool'
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

  return { app, pool }
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
