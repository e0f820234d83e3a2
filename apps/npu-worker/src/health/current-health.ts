import type { HealthResponse } from '@npu-fleet/protocol'
import type { FastifyInstance } from 'fastify'
import { WORKER_VERSION } from '../worker-version.js'
import { buildHealthReport } from './health-report.js'

/**
 * The worker's `/health` body as of now, from its live state (lifecycle, models, load, tasks, self-tests). The
 * one place it is gathered: `GET /health` answers it and `/metrics` reads its status, so both always agree.
 */
export function currentHealth(app: FastifyInstance): HealthResponse {
  const { registry } = app
  const models = registry.all()
  const abandoned = registry.abandonedCalls()
  return buildHealthReport({
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
}
