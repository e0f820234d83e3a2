import { FleetWorkerReportSchema } from '@npu-fleet/protocol'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { PoolErrorCode } from '../../errors.js'
import { AdminSessions } from './admin-sessions.js'
import { loadFleetPageAssets, loginPage } from './fleet-page-assets.js'
import { type FleetSource, fleetView } from './fleet-view.js'
import { type CookieScope, clearedSessionCookie, sessionCookie, sessionIdFrom } from './session-cookie.js'

/** Paths of the fleet page and what it loads (under the admin plugin's prefix, if any). */
export const FLEET_PAGE_ROUTES = {
  page: '/api/npu/pool/fleet',
  login: '/api/npu/pool/fleet/login',
  logout: '/api/npu/pool/fleet/logout',
  data: '/api/npu/pool/fleet/data',
  events: '/api/npu/pool/fleet/events',
  worker: '/api/npu/pool/fleet/workers/:id',
  style: '/api/npu/pool/fleet/fleet.css',
  script: '/api/npu/pool/fleet/fleet.js',
  icon: '/api/npu/pool/fleet/favicon.svg',
} as const

/** Settings of the fleet page (`fleetPage` option of the admin plugin). */
export interface FleetPageSettings {
  /** How often the live view is pushed (ms); default 1000. */
  refreshMs?: number
  /** How long a login lasts (seconds, from login; it does not slide); default 8 hours. */
  sessionTtlSeconds?: number
  /** `Secure` session cookies: always, never, or `auto` (when the request came over HTTPS); default `auto`. */
  secureCookie?: boolean | 'auto'
}

/** What the fleet page routes need from the admin plugin. */
export interface FleetPageOptions extends FleetPageSettings {
  pool: FleetSource
  /** The admin plugin's check of an `Authorization: Bearer` value (the one token comparison). */
  authorized: (authorization: string | undefined) => boolean
}

// Only this origin's files run, nothing is fetched from elsewhere, no frame may hold the page, forms post
// only back here: a strict policy the page needs no exception from (no inline script or style).
const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  // same-origin, not no-referrer: browsers then send a real Origin on the page's own form posts.
  'referrer-policy': 'same-origin',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
} as const

const LOGIN_BODY_LIMIT = 4096

/**
 * Whether a POST comes from the page itself. Browsers say where a request comes from in `Sec-Fetch-Site`
 * (only `same-origin` passes), older ones in `Origin` (it must name this host); a client that sends neither is
 * not a browser and cannot be a cross-site form. The login and logout forms are refused otherwise: with
 * SameSite=Strict the cookie never rides on such a request anyway, and this also stops another site from
 * logging a browser in with a token of its choosing.
 */
function sameOrigin(request: FastifyRequest): boolean {
  const site = request.headers['sec-fetch-site']
  if (site !== undefined) return site === 'same-origin'
  const origin = request.headers.origin
  if (origin === undefined) return true
  try {
    return new URL(origin).host === request.headers.host
  } catch {
    return false
  }
}

/**
 * The fleet page (issue 13): one row per worker, live over server-sent events, each opening the worker's last
 * `/health` reasons; behind the admin token, exchanged through a POSTed form for an HttpOnly, SameSite=Strict
 * session cookie (a browser cannot put a bearer header on a link), or the bearer header itself. Registered
 * as an encapsulated plugin: its form-body parser does not leak into the host app.
 */
export async function fleetPageRoutes(app: FastifyInstance, options: FleetPageOptions): Promise<void> {
  const { pool, authorized } = options
  const refreshMs = options.refreshMs ?? 1000
  const sessions = new AdminSessions({ ttlMs: (options.sessionTtlSeconds ?? 8 * 3600) * 1000 })
  const assets = loadFleetPageAssets()
  const pagePath = `${app.prefix}${FLEET_PAGE_ROUTES.page}`
  const scope = (request: FastifyRequest): CookieScope => ({
    path: pagePath,
    secure:
      options.secureCookie === 'auto' || options.secureCookie === undefined
        ? request.protocol === 'https'
        : options.secureCookie,
  })
  const sessionOf = (request: FastifyRequest) => sessionIdFrom(request.headers.cookie)
  const allowed = (request: FastifyRequest) =>
    authorized(request.headers.authorization) || sessions.valid(sessionOf(request))
  const unauthorized = (reply: FastifyReply) =>
    reply.code(401).header('www-authenticate', 'Bearer realm="npu-pool-admin"').send({
      error: 'admin token required: log in on the fleet page, or Authorization: Bearer <token>',
      code: PoolErrorCode.UNAUTHORIZED,
    })
  const crossSite = (reply: FastifyReply) =>
    reply.code(403).send({
      error: 'the fleet page forms only accept posts from the page itself (Origin differs)',
      code: PoolErrorCode.UNAUTHORIZED,
    })

  app.addHook('onRequest', async (_request, reply) => {
    reply.headers(SECURITY_HEADERS)
    reply.header('cache-control', 'no-store')
  })
  // The login form's body; only in this encapsulated context.
  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string', bodyLimit: LOGIN_BODY_LIMIT },
    (_request, body, done) => done(null, Object.fromEntries(new URLSearchParams(body as string))),
  )

  // Assets carry no data (the same files in every deployment), so the login page can be styled before login.
  app.get(FLEET_PAGE_ROUTES.style, async (_request, reply) =>
    reply.type('text/css; charset=utf-8').send(assets.style),
  )
  app.get(FLEET_PAGE_ROUTES.script, async (_request, reply) =>
    reply.type('text/javascript; charset=utf-8').send(assets.script),
  )
  app.get(FLEET_PAGE_ROUTES.icon, async (_request, reply) => reply.type('image/svg+xml').send(assets.icon))

  app.get<{ Querystring: Record<string, string | undefined> }>(
    FLEET_PAGE_ROUTES.page,
    async (request, reply) => {
      reply.type('text/html; charset=utf-8')
      if (allowed(request)) return reply.send(assets.page)
      const notice =
        request.query.login === 'failed' ? 'failed' : request.query.logged_out ? 'logged_out' : null
      // 401 with the login form: the page answers nothing else without the token.
      return reply
        .code(401)
        .header('www-authenticate', 'Bearer realm="npu-pool-admin"')
        .send(loginPage(assets, notice))
    },
  )

  app.post<{ Body: Record<string, unknown> | undefined }>(
    FLEET_PAGE_ROUTES.login,
    { bodyLimit: LOGIN_BODY_LIMIT },
    async (request, reply) => {
      if (!sameOrigin(request)) return crossSite(reply)
      const token = request.body?.token
      // The same constant-time comparison as the bearer header (a token never contains blanks).
      if (typeof token !== 'string' || !authorized(`Bearer ${token}`)) {
        return reply.code(303).header('location', `${pagePath}?login=failed`).send()
      }
      const session = sessions.create()
      return reply
        .code(303)
        .header('set-cookie', sessionCookie(session.id, sessions.ttlSeconds, scope(request)))
        .header('location', pagePath)
        .send()
    },
  )

  app.post(FLEET_PAGE_ROUTES.logout, async (request, reply) => {
    if (!sameOrigin(request)) return crossSite(reply)
    sessions.revoke(sessionOf(request))
    return reply
      .code(303)
      .header('set-cookie', clearedSessionCookie(scope(request)))
      .header('location', `${pagePath}?logged_out=1`)
      .send()
  })

  app.get(FLEET_PAGE_ROUTES.data, async (request, reply) => {
    if (!allowed(request)) return unauthorized(reply)
    return fleetView(pool, refreshMs)
  })

  app.get<{ Params: { id: string } }>(FLEET_PAGE_ROUTES.worker, async (request, reply) => {
    if (!allowed(request)) return unauthorized(reply)
    const report = pool.workerHealthReport(request.params.id)
    if (report === null) {
      return reply.code(404).send({
        error: `no configured worker has id ${JSON.stringify(request.params.id)}`,
        code: PoolErrorCode.WORKER_NOT_FOUND,
      })
    }
    return FleetWorkerReportSchema.parse({
      id: report.id,
      received_at: report.receivedAt === null ? null : new Date(report.receivedAt).toISOString(),
      health: report.body,
    })
  })

  // Server-sent events: the view now, then every refreshMs; a session that ends ends the stream.
  const streams = new Set<() => void>()
  app.get(FLEET_PAGE_ROUTES.events, async (request, reply) => {
    if (!allowed(request)) return unauthorized(reply)
    const session = authorized(request.headers.authorization) ? undefined : sessionOf(request)
    const raw = reply.raw
    reply.hijack()
    raw.writeHead(200, {
      ...SECURITY_HEADERS,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-accel-buffering': 'no',
    })
    const stop = () => {
      clearInterval(timer)
      streams.delete(stop)
      if (!raw.writableEnded) raw.end()
    }
    const push = () => {
      if (session !== undefined && !sessions.valid(session)) {
        raw.write('event: expired\ndata: {}\n\n')
        stop()
        return
      }
      raw.write(`event: fleet\ndata: ${JSON.stringify(fleetView(pool, refreshMs))}\n\n`)
    }
    const timer = setInterval(push, refreshMs)
    streams.add(stop)
    // The response closes when the client goes away (or once it has ended).
    raw.once('close', stop)
    push()
  })
  // Open streams would hold the server open: end them before it closes.
  app.addHook('preClose', async () => {
    for (const stop of [...streams]) stop()
  })
}
