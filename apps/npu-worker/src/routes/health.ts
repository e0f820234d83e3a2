import type { FastifyPluginAsync } from 'fastify'
import { buildHealthReport, healthHttpStatus } from '../health/health-report.js'
import { WORKER_VERSION } from '../worker-version.js'

/** `GET /health`: what operators curl and what the pool probes. 200 healthy/degraded, 503 otherwise. */
const healthRoutes: FastifyPluginAsync = async (app) => {
  app.get('/health', async (_request, reply) => {
    const { registry } = app
    const models = registry.all()
    const abandoned = registry.abandonedCalls()
    const report = buildHealthReport({
      lifecycle: app.lifecycle.state,
      version: WORKER_VERSION,
      uptimeSeconds: app.lifecycle.uptimeSeconds,
      models: models.map((m) =>
        m.health(abandoned.filter((c) => c.model === m.name && c.version === m.version).length),
      ),
      probes: registry.probes,
      load: app.scheduler.load(models),
      tasks: app.tasks.available(),
      unavailableTasks: app.tasks.unavailable(),
      abandonedCalls: abandoned.map((c) => ({ ...c, since: new Date(c.since).toISOString() })),
      selfTests: { intervalSeconds: registry.selfTestIntervalSeconds, lastRunAt: registry.lastSelfTestAt },
    })
    reply.header('cache-control', 'no-store')
    return reply.code(healthHttpStatus(report.status)).send(report)
  })
}

export default healthRoutes
