import type { FastifyPluginAsync } from 'fastify'
import { currentHealth } from '../health/current-health.js'
import { healthHttpStatus } from '../health/health-report.js'

/** `GET /health`: what operators curl and what the pool probes. 200 healthy/degraded, 503 otherwise. */
const healthRoutes: FastifyPluginAsync = async (app) => {
  app.get('/health', async (_request, reply) => {
    const report = currentHealth(app)
    reply.header('cache-control', 'no-store')
    return reply.code(healthHttpStatus(report.status)).send(report)
  })
}

export default healthRoutes
