import fp from 'fastify-plugin'
import type { WorkerConfig } from '../config.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The resolved worker configuration (read-only by convention: nothing reconfigures a running worker). */
    workerConfig: WorkerConfig
  }
}

/** Decorates `app.workerConfig` with the configuration server.ts loaded (or a test built). */
export default fp<{ config: WorkerConfig }>(
  async (app, { config }) => {
    app.decorate('workerConfig', config)
  },
  { name: 'config', fastify: '5.x' },
)
