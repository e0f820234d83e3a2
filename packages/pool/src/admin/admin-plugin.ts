import { bearerTokenChecker, MIN_TOKEN_LENGTH } from '@npu-fleet/protocol'
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { PoolError, PoolErrorCode } from '../errors.js'
import type { PoolStats, ReloadResult, WorkerHealthReport, WorkerSnapshot } from '../pool-types.js'
import { toReloadResponse, toStatsResponse, toWorkersResponse } from './admin-views.js'
import { FLEET_PAGE_ROUTES, type FleetPageSettings, fleetPageRoutes } from './fleet-page/fleet-page-routes.js'

/** What the admin routes need from a pool (an `NpuWorkerPool` fits). */
export interface AdminPool {
  getStats(): PoolStats
  getWorkers(): WorkerSnapshot[]
  workerHealthReport(id: string): WorkerHealthReport | null
  reloadConfig(): Promise<ReloadResult>
  metrics(): Promise<{ contentType: string; body: string }>
}

/** Options of {@link npuPoolAdmin}. */
export interface NpuPoolAdminOptions {
  pool: AdminPool
  /** Admin bearer token (at least 16 characters); requests without it get 401. */
  token: string
  /** The fleet page (`GET /api/npu/pool/fleet`) and its settings; `false` leaves it out. Default: on. */
  fleetPage?: FleetPageSettings | false
}

/** Paths of the admin routes. */
export const ADMIN_ROUTES = {
  stats: '/api/npu/pool/stats',
  workers: '/api/npu/pool/workers',
  reload: '/api/npu/pool/reload',
  metrics: '/api/npu/pool/metrics',
  fleet: FLEET_PAGE_ROUTES.page,
} as const

const plugin: FastifyPluginAsync<NpuPoolAdminOptions> = async (app, options) => {
  const { pool, token } = options
  if (pool === undefined || typeof pool.getStats !== 'function') {
    throw new PoolError(PoolErrorCode.BAD_ARGUMENT, 'npuPoolAdmin: option `pool` is required')
  }
  if (typeof token !== 'string' || token.length < MIN_TOKEN_LENGTH) {
    // Never serve the admin routes open: a missing token is a deployment error, not "no auth".
    throw new PoolError(
      PoolErrorCode.BAD_ARGUMENT,
      `npuPoolAdmin: option \`token\` must be a string of at least ${MIN_TOKEN_LENGTH} characters`,
    )
  }
  const authorized = bearerTokenChecker(token)
  // A route-level hook, not an app-wide one: the plugin shares the parent's context and must not guard its routes.
  const requireToken = async (request: FastifyRequest, reply: FastifyReply) => {
    if (authorized(request.headers.authorization)) return
    return reply
      .code(401)
      .header('www-authenticate', 'Bearer realm="npu-pool-admin"')
      .header('cache-control', 'no-store')
      .send({
        error: 'admin token required: Authorization: Bearer <token>',
        code: PoolErrorCode.UNAUTHORIZED,
      })
  }
  const noStore = async (_request: FastifyRequest, reply: FastifyReply) => {
    reply.header('cache-control', 'no-store')
  }

  app.get(ADMIN_ROUTES.stats, { onRequest: requireToken, preHandler: noStore }, async () =>
    toStatsResponse(pool.getStats()),
  )
  app.get(ADMIN_ROUTES.workers, { onRequest: requireToken, preHandler: noStore }, async () =>
    toWorkersResponse(pool.getWorkers()),
  )
  // Prometheus scrapes with a bearer token too (its `authorization` scrape setting): the fleet's layout is not public.
  app.get(ADMIN_ROUTES.metrics, { onRequest: requireToken, preHandler: noStore }, async (_request, reply) => {
    const { contentType, body } = await pool.metrics()
    return reply.type(contentType).send(body)
  })
  // Reload only re-reads the pool's own config file: the HTTP API never takes worker URLs (no SSRF).
  app.post(ADMIN_ROUTES.reload, { onRequest: requireToken, preHandler: noStore }, async (_request, reply) => {
    const result = await pool.reloadConfig()
    return reply.code(result.success ? 200 : 422).send(toReloadResponse(result))
  })
  if (options.fleetPage !== false) {
    await app.register(fleetPageRoutes, { ...options.fleetPage, pool, authorized })
  }
}

/**
 * Fastify plugin with the pool admin routes (`GET /api/npu/pool/stats`, `GET /api/npu/pool/workers`,
 * `POST /api/npu/pool/reload`), returning the seeds' snake_case JSON, `GET /api/npu/pool/metrics`
 * (Prometheus text), behind a bearer token compared in constant time, and the fleet page
 * (`GET /api/npu/pool/fleet`, the same token through a login form and a session cookie).
 */
export const npuPoolAdmin = fp(plugin, { name: 'npu-pool-admin', fastify: '5.x' })
