import fp from 'fastify-plugin'
import type { WorkerConfig } from '../config.js'
import { RepositoryControl } from '../models/repository-control.js'

declare module 'fastify' {
  interface FastifyInstance {
    repository: RepositoryControl
  }
}

/** Decorates `app.repository` (the model repository extension); polls `models_dir` under `model_control: poll`. */
export default fp<{ config: WorkerConfig }>(
  async (app, { config }) => {
    const control = new RepositoryControl({
      registry: app.registry,
      scheduler: app.scheduler,
      config,
      serving: () => app.lifecycle.state === 'serving',
      log: app.log,
    })
    app.decorate('repository', control)
    // Polls skip while the worker starts (its own load runs) and stop at shutdown.
    app.addHook('onReady', async () => control.start())
    app.addHook('onClose', async () => control.stop())
  },
  { name: 'repository', dependencies: ['registry', 'scheduler', 'lifecycle'], fastify: '5.x' },
)
