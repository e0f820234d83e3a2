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
        onInference: (model, seconds, ok, requests) =>
          app.metrics.observeInference(model, seconds, ok, requests),
        onQueueWait: (model, seconds) => app.metrics.observeQueueWait(model, seconds),
      }),
    )
  },
  { name: 'scheduler', dependencies: ['metrics', 'registry'], fastify: '5.x' },
)
