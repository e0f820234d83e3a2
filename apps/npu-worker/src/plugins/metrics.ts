import fp from 'fastify-plugin'
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'
import type { ModelRegistry } from '../models/model-registry.js'
import type { RegisteredModel } from '../models/registered-model.js'
import type { Scheduler } from '../scheduler/scheduler.js'

/** Prometheus instruments of the worker, on a registry of its own (never prom-client's global one). */
export class WorkerMetrics {
  readonly registry = new Registry()
  readonly #requests = new Counter({
    name: 'npu_worker_http_requests_total',
    help: 'HTTP requests by route pattern, method and status',
    labelNames: ['route', 'method', 'status'],
    registers: [this.registry],
  })
  readonly #requestSeconds = new Histogram({
    name: 'npu_worker_http_request_duration_seconds',
    help: 'HTTP request latency by route pattern, method and status',
    labelNames: ['route', 'method', 'status'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  })
  readonly #grpcCalls = new Counter({
    name: 'npu_worker_grpc_requests_total',
    help: 'gRPC calls by method and status code',
    labelNames: ['method', 'code'],
    registers: [this.registry],
  })
  readonly #grpcSeconds = new Histogram({
    name: 'npu_worker_grpc_request_duration_seconds',
    help: 'gRPC call latency by method and status code',
    labelNames: ['method', 'code'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  })
  readonly #inferenceSeconds = new Histogram({
    name: 'npu_worker_inference_duration_seconds',
    help: 'Model execution time by model, backend, device and outcome',
    labelNames: ['model', 'version', 'backend', 'device', 'outcome'],
    buckets: [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  })

  constructor(models: () => { registry: ModelRegistry; scheduler: Scheduler } | null) {
    collectDefaultMetrics({ register: this.registry, prefix: 'npu_worker_' })
    const perModel = (
      name: string,
      help: string,
      value: (m: RegisteredModel, s: Scheduler) => number | null,
    ) =>
      new Gauge({
        name,
        help,
        labelNames: ['model', 'version'],
        registers: [this.registry],
        collect() {
          this.reset()
          const current = models()
          if (!current) return
          for (const m of current.registry.all()) {
            const v = value(m, current.scheduler)
            if (v !== null) this.set({ model: m.name, version: m.version }, v)
          }
        },
      })
    perModel('npu_worker_queue_depth', 'Inferences waiting per model', (m, s) =>
      m.ready() ? s.queue(m).queued : null,
    )
    perModel('npu_worker_active_inferences', 'Inferences running per model', (m, s) =>
      m.ready() ? s.queue(m).active : null,
    )
    perModel('npu_worker_model_ready', '1 when the model version can serve (ready or degraded)', (m) =>
      m.ready() ? 1 : 0,
    )
    perModel('npu_worker_model_fallback', '1 when the model runs on a fallback backend or device', (m) =>
      m.onFallback ? 1 : 0,
    )
  }

  /** Records one HTTP request. */
  observeRequest(route: string, method: string, status: number, seconds: number): void {
    const labels = { route, method, status: String(status) }
    this.#requests.inc(labels)
    this.#requestSeconds.observe(labels, seconds)
  }

  /** Records one gRPC call (`method`: the RPC's name; `code`: its gRPC status name, e.g. OK, UNAVAILABLE). */
  observeGrpcCall(method: string, code: string, seconds: number): void {
    const labels = { method, code }
    this.#grpcCalls.inc(labels)
    this.#grpcSeconds.observe(labels, seconds)
  }

  /** Records one model execution. */
  observeInference(model: RegisteredModel, seconds: number, ok: boolean): void {
    this.#inferenceSeconds.observe(
      {
        model: model.name,
        version: model.version,
        backend: model.serving()?.model.backend ?? 'none',
        device: model.serving()?.model.device ?? 'none',
        outcome: ok ? 'ok' : 'error',
      },
      seconds,
    )
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    metrics: WorkerMetrics
  }
}

/** Decorates `app.metrics` and times every request by its route pattern (not the raw URL: bounded labels). */
export default fp(
  async (app) => {
    const metrics = new WorkerMetrics(() =>
      app.hasDecorator('scheduler') ? { registry: app.registry, scheduler: app.scheduler } : null,
    )
    app.decorate('metrics', metrics)
    app.addHook('onResponse', async (request, reply) => {
      const route = request.routeOptions.url ?? 'unmatched'
      metrics.observeRequest(route, request.method, reply.statusCode, reply.elapsedTime / 1000)
    })
  },
  { name: 'metrics', fastify: '5.x' },
)
