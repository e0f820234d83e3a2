import { bearerTokenChecker } from '@npu-fleet/protocol'
import fp from 'fastify-plugin'
import { ErrUnauthorized } from '../errors.js'

/** Route patterns that stay open for probes and scrapers even when a token is configured. */
export const PUBLIC_ROUTES: ReadonlySet<string> = new Set([
  '/health',
  '/v2/health/live',
  '/v2/health/ready',
  '/metrics',
])

/** Requires `Authorization: Bearer <token>` on every non-public route when a token is configured. */
export default fp<{ token: string | null }>(
  async (app, { token }) => {
    if (!token) return
    const check = bearerTokenChecker(token)
    app.addHook('onRequest', async (request, reply) => {
      // The matched route pattern, not the raw URL: no encoding or `..` trick can make a path look public.
      const route = request.routeOptions.url
      if (route !== undefined && PUBLIC_ROUTES.has(route)) return
      if (!check(request.headers.authorization)) {
        reply.header('www-authenticate', 'Bearer realm="npu-worker"')
        throw new ErrUnauthorized()
      }
    })
  },
  { name: 'auth', fastify: '5.x' },
)
