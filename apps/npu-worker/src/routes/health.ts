import type { FastifyPluginAsync } from 'fastify'
import { buildHealthReport, healthHttpStatus } from '../health/health-report.js'
import { WORKER_VERSION } from '../worker-version.js'

/** `GET /health`: what operators curl and what the pool probes. 200 healthy/degraded, 503 otherwise. */
const healthRoutes: FastifyPluginAsync = async (app) => {
  app.get('/health', async (_request, reply) => {
    const { registry, generators } = app
    const models = registry.all()
    const languageModels = generators.all()
    const abandoned = registry.abandonedCalls()
    const stuck = (m: { name: string; version: string }) =>
      abandoned.filter((c) => c.model === m.name && c.version === m.version).length
    const maxQueued = app.workerConfig.queue.max_queued
    const lastSelfTests = [registry.lastSelfTestAt, generators.lastSelfTestAt].filter((t) => t !== null)
    const report = buildHealthReport({
      lifecycle: app.lifecycle.state,
      version: WORKER_VERSION,
      uptimeSeconds: app.lifecycle.uptimeSeconds,
      models: [
        ...models.map((m) => m.health(stuck(m))),
        ...languageModels.map((m) => m.health(maxQueued, stuck(m))),
      ],
      probes: registry.probes,
      load: { ...app.scheduler.load(models), generation: app.generation.load(languageModels) },
      tasks: app.tasks.available(),
      unavailableTasks: app.tasks.unavailable(),
      abandonedCalls: abandoned.map((c) => ({ ...c, since: new Date(c.since).toISOString() })),
      selfTests: {
        intervalSeconds: registry.selfTestIntervalSeconds,
        lastRunAt: lastSelfTests.length > 0 ? Math.max(...lastSelfTests) : null,
      },
    })
    reply.header('cache-control', 'no-store')
    return reply.code(healthHttpStatus(report.status)).send(report)
  })
}

export default healthRoutes
