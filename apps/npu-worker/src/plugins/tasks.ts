import fp from 'fastify-plugin'
import { TaskRegistry } from '../tasks/task-registry.js'

declare module 'fastify' {
  interface FastifyInstance {
    tasks: TaskRegistry
  }
}

/** Decorates `app.tasks`; pipelines add themselves from their own plugins. */
export default fp(
  async (app) => {
    app.decorate('tasks', new TaskRegistry(app.registry))
  },
  { name: 'tasks', dependencies: ['registry'], fastify: '5.x' },
)
