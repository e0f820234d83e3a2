import type { HealthResponse } from '@npu-fleet/protocol'
import type { FastifyInstance } from 'fastify'
import { threadPriorityHealth } from '../threads/thread-priority-ledger.js'
import { WORKER_VERSION } from '../worker-version.js'
import { buildHealthReport } from './health-report.js'

/**
 * The worker's `/health` body as of now, from its live state (lifecycle, tensor and language models, load,
 * tasks, self-tests). The one place it is gathered: `GET /health` answers it and `/metrics` reads its status, so
 * both always agree.
 */
export function currentHealth(app: FastifyInstance): HealthResponse {
  const { registry, generators } = app
  const models = registry.all()
  const languageModels = generators.all()
  const abandoned = registry.abandonedCalls()
  const stuck = (m: { name: string; version: string }) =>
    abandoned.filter((c) => c.model === m.name && c.version === m.version).length
  const maxQueued = app.workerConfig.queue.max_queued
  const lastSelfTests = [registry.lastSelfTestAt, generators.lastSelfTestAt].filter((t) => t !== null)
  return buildHealthReport({
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
    threadPriority: threadPriorityHealth(),
  })
}
