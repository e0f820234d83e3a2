import fp from 'fastify-plugin'
import type { WorkerConfig } from '../config.js'
import { GenerationScheduler } from '../scheduler/generation-scheduler.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Admission control and deadlines of text generation (the OpenAI routes and the text tasks). */
    generation: GenerationScheduler
  }
}

/** Decorates `app.generation`, reporting every generation to the metrics. */
export default fp<{ config: WorkerConfig }>(
  async (app, { config }) => {
    app.decorate(
      'generation',
      new GenerationScheduler({
        defaultMaxQueued: config.queue.max_queued,
        onGeneration: (model, seconds, ok, tokens) =>
          app.metrics.observeGeneration(model, seconds, ok, tokens),
      }),
    )
  },
  { name: 'generation', dependencies: ['metrics', 'registry'], fastify: '5.x' },
)
