import fp from 'fastify-plugin'
import { currentHealth } from '../health/current-health.js'
import { WorkerMetrics } from '../metrics/worker-metrics.js'

declare module 'fastify' {
  interface FastifyInstance {
    metrics: WorkerMetrics
  }
}

/**
 * Decorates `app.metrics`, times every request by its route pattern (not the raw URL: bounded labels) and
 * counts every rejection answered, whichever route raised it (the gRPC service reports its own). The models, queues and health are read at scrape
 * time, once the plugins that own them are registered.
 */
export default fp(
  async (app) => {
    const composed = () => app.hasDecorator('scheduler') && app.hasDecorator('tasks')
    const metrics = new WorkerMetrics({
      models: () => (composed() ? { registry: app.registry, scheduler: app.scheduler } : null),
      health: () => (composed() ? currentHealth(app) : null),
    })
    app.decorate('metrics', metrics)
    // Callback hooks: an async one costs a promise and a microtask on every request.
    app.addHook('onResponse', (request, reply, done) => {
      const route = request.routeOptions.url ?? 'unmatched'
      metrics.observeRequest(route, request.method, reply.statusCode, reply.elapsedTime / 1000)
      done()
    })
    app.addHook('onError', (_request, _reply, error, done) => {
      metrics.observeErrorAnswer(error, app.lifecycle.state)
      done()
    })
  },
  { name: 'metrics', dependencies: ['lifecycle'], fastify: '5.x' },
)
