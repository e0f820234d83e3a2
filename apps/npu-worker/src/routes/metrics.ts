import type { FastifyPluginAsync } from 'fastify'

/** `GET /metrics` in the Prometheus text format. */
const metricsRoutes: FastifyPluginAsync = async (app) => {
  app.get('/metrics', async (_request, reply) => {
    reply.header('content-type', app.metrics.registry.contentType)
    return app.metrics.registry.metrics()
  })
}

export default metricsRoutes
