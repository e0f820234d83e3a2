import fp from 'fastify-plugin'
import type { WorkerConfig } from '../config.js'
import { Scheduler } from '../scheduler/scheduler.js'

declare module 'fastify' {
  interface FastifyInstance {
    scheduler: Scheduler
  }
}

/** Decorates `app.scheduler`, reporting every inference to the metrics. */
export default fp<{ config: WorkerConfig }>(
  async (app, { config }) => {
    app.decorate(
      'scheduler',
      new Scheduler({
        defaults: { queueMaxQueued: config.queue.max_queued },
        observer: app.metrics.queueObserver,
      }),
    )
  },
  { name: 'scheduler', dependencies: ['metrics', 'registry'], fastify: '5.x' },
)
