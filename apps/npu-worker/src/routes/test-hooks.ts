import type { FastifyPluginAsync } from 'fastify'
import { ErrBadInferRequest } from '../errors.js'

/**
 * Test-only routes, registered only with `test_hooks: true` (NPU_WORKER_TEST_HOOKS=1). `POST /_test/freeze`
 * blocks the event loop, the way a hung worker would, so deploy tests can prove the systemd watchdog
 * restarts it.
 */
const testHookRoutes: FastifyPluginAsync = async (app) => {
  app.post<{ Body: { ms?: unknown } }>('/_test/freeze', async (request) => {
    const ms = request.body?.ms
    if (typeof ms !== 'number' || !Number.isFinite(ms) || ms <= 0 || ms > 600_000) {
      throw new ErrBadInferRequest('ms: expected a number of milliseconds in (0, 600000]')
    }
    app.log.warn({ ms }, 'test hook: freezing the event loop')
    // Reply first, then block: the caller learns the freeze began.
    setImmediate(() => {
      const until = Date.now() + ms
      while (Date.now() < until) {
        // busy-wait on purpose
      }
    })
    return { frozen_ms: ms }
  })
}

export default testHookRoutes
