import { createHash, timingSafeEqual } from 'node:crypto'
import fp from 'fastify-plugin'
import { ErrUnauthorized } from '../errors.js'

/** Route patterns that stay open for probes and scrapers even when a token is configured. */
export const PUBLIC_ROUTES: ReadonlySet<string> = new Set([
  '/health',
  '/v2/health/live',
  '/v2/health/ready',
  '/metrics',
])

/** Returns a checker that compares a presented bearer token with the configured one in constant time. */
export function createTokenChecker(token: string): (authorization: string | undefined) => boolean {
  // Hashing both sides first makes the comparison constant-time whatever the presented token's length.
  const expected = createHash('sha256').update(token).digest()
  return (authorization) => {
    const match = /^Bearer ([^\s]+)$/i.exec(authorization ?? '')
    if (!match) return false
    return timingSafeEqual(
      createHash('sha256')
        .update(match[1] as string)
        .digest(),
      expected,
    )
  }
}

/** Requires `Authorization: Bearer <token>` on every non-public route when a token is configured. */
export default fp<{ token: string | null }>(
  async (app, { token }) => {
    if (!token) return
    const check = createTokenChecker(token)
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
