import {
  type HealthResponse,
  HealthStatusSchema,
  ModelStateSchema,
  PROTOCOL_VERSION,
  SelfTestHealthSchema,
} from '@npu-fleet/protocol'
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'
import type { ModelRegistry } from '../models/model-registry.js'
import type { RegisteredGenerator } from '../models/registered-generator.js'
import type { RegisteredModel } from '../models/registered-model.js'
import type { LifecycleState } from '../plugins/lifecycle.js'
import type { ExecutionRecord, QueueObserver, RequestRecord } from '../scheduler/model-queue.js'
import type { Scheduler } from '../scheduler/scheduler.js'
import { WORKER_VERSION } from '../worker-version.js'
import { ModelStatisticsBook } from './model-statistics.js'
import { RecordedHistogram } from './recorded-histogram.js'
import { REJECTION_REASONS, rejectionReason } from './rejection-reason.js'

/** Prefix of every worker metric. */
const PREFIX = 'npu_worker_'

/**
 * prom-client's default gauges whose names end in `_total`, which Prometheus reserves for counters (`promtool
 * check metrics` warns). Each is the sum over the `type` label of the gauge of the same name without `_total`,
 * which stays (`sum(npu_worker_nodejs_active_handles)`), so dropping them loses nothing.
 */
const NON_COUNTER_TOTALS = ['active_handles', 'active_requests', 'active_resources'].map(
  (name) => `${PREFIX}nodejs_${name}_total`,
)

const MODEL_STATES = ModelStateSchema.options
/** The instance states `model_instances` reports (InstanceCounts without its timeout). */
const INSTANCE_STATES = ['running', 'starting', 'dormant', 'down'] as const
const HEALTH_STATUSES = HealthStatusSchema.options
const SELF_TEST_RESULTS = SelfTestHealthSchema.shape.result.options

/** What the metrics read at scrape time; each returns null until the app has composed that part. */
export interface WorkerMetricsSource {
  /** The models and their queues. */
  models(): { registry: ModelRegistry; scheduler: Scheduler } | null
  /** The `/health` body as of now (the same function `GET /health` answers with). */
  health(): HealthResponse | null
}

type ModelLabels = { model: string; version: string }
type Sample = [labels: Record<string, string>, value: number]

/**
 * Prometheus instruments of the worker, on a registry of its own (never prom-client's global one): HTTP
 * requests; per model the queue wait and the execution time apart (Triton's split), batch sizes, queue depth
 * and capacity, state and self-test; rejections by reason; the worker's health status. Events (requests,
 * inferences, waits, rejections) are recorded as they happen; states are read from the models at scrape time,
 * so a gauge can never disagree with `/health`.
 */
export class WorkerMetrics {
  readonly registry = new Registry()
  /** The statistics extension's counters, fed by the same events as the instruments below. */
  readonly statistics = new ModelStatisticsBook()
  // The per-request instruments are recorded in place (recorded-histogram.ts); each request counter is read from
  // its histogram's counts, so a request is one record.
  readonly #requestSeconds = new RecordedHistogram({
    name: `${PREFIX}http_request_duration_seconds`,
    help: 'HTTP request latency by route pattern, method and status',
    counter: {
      name: `${PREFIX}http_requests_total`,
      help: 'HTTP requests by route pattern, method and status',
    },
    labelNames: ['route', 'method', 'status'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  })
  readonly #grpcSeconds = new RecordedHistogram({
    name: `${PREFIX}grpc_request_duration_seconds`,
    help: 'gRPC call latency by method and status code',
    counter: { name: `${PREFIX}grpc_requests_total`, help: 'gRPC calls by method and status code' },
    labelNames: ['method', 'code'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  })
  readonly #inferenceSeconds = new RecordedHistogram({
    name: `${PREFIX}inference_duration_seconds`,
    help: 'Model execution time (from the start of the inference to its end, queue wait excluded) by model, backend, device and outcome',
    labelNames: ['model', 'version', 'backend', 'device', 'outcome'],
    buckets: [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  })
  readonly #queueWaitSeconds = new RecordedHistogram({
    name: `${PREFIX}queue_wait_seconds`,
    help: 'Time a request waited in its model queue before its inference started (requests that left while waiting are counted in npu_worker_rejections_total)',
    labelNames: ['model', 'version'],
    buckets: [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  })
  readonly #batchSize = new RecordedHistogram({
    name: `${PREFIX}inference_batch_size`,
    help: 'Requests merged into one inference by the dynamic batcher (1 when it ran alone); _count is inferences run, _sum requests served',
    labelNames: ['model', 'version'],
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
    registers: [this.registry],
  })
  readonly #generationSeconds = new Histogram({
    name: `${PREFIX}generation_duration_seconds`,
    help: 'Text generations by model, backend, device and outcome (ok, or error: failed, cancelled, timed out)',
    labelNames: ['model', 'version', 'backend', 'device', 'outcome'],
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
    registers: [this.registry],
  })
  readonly #generatedTokens = new Counter({
    name: `${PREFIX}generated_tokens_total`,
    help: 'Tokens generated, by model, backend and device (cancelled generations included up to where they stopped)',
    labelNames: ['model', 'version', 'backend', 'device'],
    registers: [this.registry],
  })
  readonly #rejections = new Counter({
    name: `${PREFIX}rejections_total`,
    help: 'Requests refused or dropped before their answer, by reason: queue_full, deadline, cancelled, model_not_ready, starting, draining',
    labelNames: ['reason'],
    registers: [this.registry],
  })

  constructor(source: WorkerMetricsSource) {
    collectDefaultMetrics({ register: this.registry, prefix: PREFIX })
    for (const name of NON_COUNTER_TOTALS) this.registry.removeSingleMetric(name)
    // Every reason from the start: `increase()` over a series that appears late misses its first rejections.
    for (const reason of REJECTION_REASONS) this.#rejections.inc({ reason }, 0)

    const registry = this.registry
    const gauge = (name: string, help: string, labelNames: string[], samples: () => Sample[]) =>
      new Gauge({
        name: `${PREFIX}${name}`,
        help,
        labelNames,
        registers: [registry],
        collect() {
          // Reset first: a model that went away (or a state left) must not keep its last value.
          this.reset()
          for (const [labels, value] of samples()) this.set(labels, value)
        },
      })
    const labelsOf = (m: { name: string; version: string }): ModelLabels => ({
      model: m.name,
      version: m.version,
    })
    const perModel = (
      name: string,
      help: string,
      extraLabels: string[],
      value: (m: RegisteredModel, s: Scheduler, labels: ModelLabels) => Sample[],
      /** The same gauge's samples for a language model; none when the gauge is about tensor models only. */
      generatorValue?: (m: RegisteredGenerator, labels: ModelLabels) => Sample[],
    ) =>
      gauge(name, help, ['model', 'version', ...extraLabels], () => {
        const current = source.models()
        if (!current) return []
        const tensorSamples = current.registry.all().flatMap((m) => value(m, current.scheduler, labelsOf(m)))
        if (!generatorValue) return tensorSamples
        return [
          ...tensorSamples,
          ...current.registry.generators.all().flatMap((m) => generatorValue(m, labelsOf(m))),
        ]
      })
    const whenReady =
      (read: (m: RegisteredModel, s: Scheduler) => number) =>
      (m: RegisteredModel, s: Scheduler, labels: ModelLabels): Sample[] =>
        m.ready() ? [[labels, read(m, s)]] : []
    const selfTest =
      (read: (record: NonNullable<RegisteredModel['selfTest']>) => number | null) =>
      (m: RegisteredModel, _s: Scheduler, labels: ModelLabels): Sample[] => {
        const record = m.selfTest
        const value = record ? read(record) : null
        return value === null ? [] : [[labels, value]]
      }

    perModel(
      'queue_depth',
      'Inferences waiting per model',
      [],
      whenReady((m, s) => s.queue(m).queued),
    )
    perModel(
      'queue_capacity',
      'Inferences allowed to wait per model (queue.max_queued); more are refused with 503',
      [],
      whenReady((m, s) => s.queue(m).queueCapacity),
    )
    perModel(
      'active_inferences',
      'Inferences running per model',
      [],
      whenReady((m, s) => s.queue(m).active),
    )
    perModel(
      'inference_slots',
      'Inferences that can run at once per model now (its load.capacity share: ONNX Runtime instances running or dormant, infer requests)',
      [],
      (m, _s, labels) => [[labels, m.liveSlots()]],
    )
    perModel(
      'model_instances',
      'ONNX Runtime instances per model by state: running (with a session), starting, dormant (not needed yet or retired when idle), down',
      ['state'],
      (m, _s, labels) => {
        const counts = m.serving()?.model.instanceCounts?.()
        if (!counts) return []
        return INSTANCE_STATES.map((state) => [{ ...labels, state }, counts[state]])
      },
    )
    perModel(
      'model_ready',
      '1 when the model version (tensor or language model) can serve (ready or degraded)',
      [],
      (m, _s, labels) => [[labels, m.ready() ? 1 : 0]],
      (m, labels) => [[labels, m.ready() ? 1 : 0]],
    )
    perModel(
      'model_fallback',
      '1 when the model (tensor or language model) runs on a fallback backend or device',
      [],
      (m, _s, labels) => [[labels, m.onFallback ? 1 : 0]],
      (m, labels) => [[labels, m.onFallback ? 1 : 0]],
    )
    perModel(
      'model_state',
      'State of the model version: 1 for its current state (loading, warming, ready, degraded, recovering, failed, unloading), 0 for the others',
      ['state'],
      (m, _s, labels) => MODEL_STATES.map((state) => [{ ...labels, state }, m.state.kind === state ? 1 : 0]),
    )
    perModel(
      'self_test_result',
      'Last output self-test of the model: 1 for its result (pass, drift, error, no_reference), 0 for the others',
      ['result'],
      (m, _s, labels) => {
        const record = m.selfTest
        if (!record) return []
        return SELF_TEST_RESULTS.map((result) => [{ ...labels, result }, record.result === result ? 1 : 0])
      },
    )
    perModel(
      'self_test_max_abs_error',
      'Largest |device - reference| in the last self-test (+Inf for NaN or a missing output); compare with npu_worker_self_test_tolerance_atol',
      [],
      selfTest((r) => r.maxAbsError),
    )
    perModel(
      'self_test_tolerance_atol',
      'Absolute tolerance of the last self-test (each element must be within atol + rtol x |reference|)',
      [],
      selfTest((r) => r.tolerance?.atol ?? null),
    )
    perModel(
      'self_test_tolerance_rtol',
      'Relative tolerance of the last self-test',
      [],
      selfTest((r) => r.tolerance?.rtol ?? null),
    )
    perModel(
      'self_test_mismatches',
      'Output elements outside the tolerance in the last self-test',
      [],
      selfTest((r) => r.mismatches),
    )
    perModel(
      'self_test_timestamp_seconds',
      'When the last self-test ran (Unix seconds)',
      [],
      selfTest((r) => r.at / 1000),
    )

    gauge(
      'health_status',
      'Status /health reports now: 1 for it (starting, healthy, degraded, unhealthy, draining), 0 for the others',
      ['status'],
      () => {
        const health = source.health()
        if (!health) return []
        return HEALTH_STATUSES.map((status) => [{ status }, health.status === status ? 1 : 0])
      },
    )
    gauge('npu_available', '1 when at least one model runs on the NPU now', [], () => {
      const health = source.health()
      return health ? [[{}, health.capabilities.available ? 1 : 0]] : []
    })
    gauge(
      'info',
      'The worker build: version and wire protocol version (always 1)',
      ['version', 'protocol_version'],
      () => [[{ version: WORKER_VERSION, protocol_version: String(PROTOCOL_VERSION) }, 1]],
    )
  }

  /** Records one HTTP request. */
  observeRequest(route: string, method: string, status: number, seconds: number): void {
    this.#requestSeconds.observe(seconds, route, method, statusLabel(status))
  }

  /** Records one gRPC call (`method`: the RPC's name; `code`: its gRPC status name, e.g. OK, UNAVAILABLE). */
  observeGrpcCall(method: string, code: string, seconds: number): void {
    this.#grpcSeconds.observe(seconds, method, code)
  }

  /** The scheduler's events, each recorded once here for both `/metrics` and the statistics extension. */
  readonly queueObserver: QueueObserver = {
    queueWait: (model, seconds) => this.observeQueueWait(model, seconds),
    execution: (model, record) => this.observeExecution(model, record),
    request: (model, record) => this.observeInferenceRequest(model, record),
  }

  /** Records one model execution: its duration (all compute phases) and how many requests it merged. */
  observeExecution(model: RegisteredModel, record: ExecutionRecord): void {
    const { input, infer, output } = record.compute
    const loaded = model.serving()?.model
    this.#inferenceSeconds.observe(
      input + infer + output,
      model.name,
      model.version,
      loaded?.backend ?? 'none',
      loaded?.device ?? 'none',
      record.ok ? 'ok' : 'error',
    )
    this.#batchSize.observe(record.requests, model.name, model.version)
    this.statistics.recordExecution(model, record)
  }

  /** Records one scheduled request that got its answer or its error (statistics extension). */
  observeInferenceRequest(model: RegisteredModel, record: RequestRecord): void {
    this.statistics.recordRequest(model, record)
  }

  /** Records one text generation and the tokens it generated. */
  observeGeneration(model: RegisteredGenerator, seconds: number, ok: boolean, tokens: number): void {
    const generator = model.serving()?.generator
    const labels = {
      model: model.name,
      version: model.version,
      backend: generator?.backend ?? 'none',
      device: generator?.device ?? 'none',
    }
    this.#generationSeconds.observe({ ...labels, outcome: ok ? 'ok' : 'error' }, seconds)
    if (tokens > 0) this.#generatedTokens.inc(labels, tokens)
  }

  /** Records how long one request waited in its model's queue before its inference started. */
  observeQueueWait(model: RegisteredModel, seconds: number): void {
    this.#queueWaitSeconds.observe(seconds, model.name, model.version)
  }

  /**
   * Records an error answered to a client (HTTP or gRPC alike): a rejection is counted by its reason, anything
   * else (bad input, a failed inference) is not one. `lifecycle`: the worker's state as it answered.
   */
  observeErrorAnswer(error: unknown, lifecycle: LifecycleState): void {
    const reason = rejectionReason(error, lifecycle)
    if (reason) this.#rejections.inc({ reason })
  }
}

/** Status codes as label values, made once each (a status is a small integer: 100 to 599). */
const STATUS_LABELS: string[] = []
function statusLabel(status: number): string {
  const cached = STATUS_LABELS[status]
  if (cached !== undefined) return cached
  const label = String(status)
  if (Number.isInteger(status) && status >= 0 && status < 1000) STATUS_LABELS[status] = label
  return label
}
