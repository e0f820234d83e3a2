import { FleetHealthSchema } from '@npu-fleet/protocol'
import { type Metric, Registry } from 'prom-client'
import { CircuitState } from '../breaker/circuit-breaker.js'
import { type Buckets, LATENCY_BUCKETS_SECONDS } from '../stats/buckets.js'
import type { NeedCounts, PoolCounters } from '../stats/pool-counters.js'
import type { QueueWaits } from '../stats/queue-waits.js'
import type { PoolWorker } from '../workers/pool-worker.js'

/** What the metrics read, at scrape time only. */
export interface PoolMetricsSource {
  workers: () => readonly PoolWorker[]
  counters: PoolCounters
  waits: QueueWaits
  queuedTasks: () => number
  panickingTiers: () => number[]
}

type Labels = Record<string, string | number>
type Sample = { metricName?: string; labels: Labels; value: number }
type Kind = 'counter' | 'gauge' | 'histogram'

/** The worker's health as one state of a state set (`npu_pool_worker_health_state`). */
const HEALTH_STATES = FleetHealthSchema.options
const CIRCUIT_STATES = Object.values(CircuitState)

/** A histogram's samples from fixed buckets (cumulative `le`, then `_sum` and `_count`). */
function histogram(name: string, labels: Labels, b: Buckets): Sample[] {
  const out: Sample[] = []
  let cumulative = 0
  LATENCY_BUCKETS_SECONDS.forEach((le, i) => {
    cumulative += b.counts[i] as number
    out.push({ metricName: `${name}_bucket`, labels: { ...labels, le }, value: cumulative })
  })
  out.push({ metricName: `${name}_bucket`, labels: { ...labels, le: '+Inf' }, value: b.count })
  out.push({ metricName: `${name}_sum`, labels, value: b.sum })
  out.push({ metricName: `${name}_count`, labels, value: b.count })
  return out
}

/**
 * The pool's Prometheus metrics (issue 13): per worker requests, successes and failed attempts by reason and
 * the worker's code, in flight and cap, circuit and health state, latency histogram and estimate, and its
 * generation (time to first token, tokens, finished and interrupted streams, issue 12); per task type or model
 * the wait for a slot and the tasks started, succeeded, failed and retried; tasks, retries, budget denials and
 * the ejection cap. Every figure is read
 * at scrape time from the pool's own counters (the same ones `getStats()` and `getWorkers()` show), so the
 * request path pays nothing for them. Registered in the backend's prom-client registry when it passes one,
 * else in the pool's own.
 */
export class PoolMetrics {
  /** Where the metrics are registered. */
  readonly registry: Registry

  constructor(source: PoolMetricsSource, registry?: Registry) {
    this.registry = registry ?? new Registry()
    const perWorker = (fn: (w: PoolWorker, id: Labels) => Sample[]) => () =>
      source.workers().flatMap((w) => fn(w, { worker: w.id }))
    const c = source.counters
    const define = (name: string, type: Kind, help: string, samples: () => Sample[]) => {
      // prom-client reads a metric through get(); these read the pool's counters instead of keeping copies.
      const metric = {
        name,
        help,
        type,
        aggregator: 'sum',
        get: async () => ({ name, help, type, aggregator: 'sum', values: samples() }),
        reset: () => {},
      }
      this.registry.registerMetric(metric as unknown as Metric)
    }

    define(
      'npu_pool_worker_requests_total',
      'counter',
      'Attempts the pool sent to the worker.',
      perWorker((w, id) => [{ labels: id, value: w.traffic.counters().requests }]),
    )
    define(
      'npu_pool_worker_successes_total',
      'counter',
      'Attempts the worker answered with a valid 2xx.',
      perWorker((w, id) => [{ labels: id, value: w.traffic.counters().successes }]),
    )
    define(
      'npu_pool_worker_failed_attempts_total',
      'counter',
      "Attempts that did not succeed, by reason (connection, timeout, server_error, overloaded, not_serving, capability, bad_response, rejected) and the worker's NPU_ERR code (none when it sent none).",
      perWorker((w, id) =>
        w.traffic
          .unsuccessful()
          .map((f) => ({ labels: { ...id, reason: f.reason, code: f.code }, value: f.count })),
      ),
    )
    define(
      'npu_pool_worker_active_tasks',
      'gauge',
      'Requests in flight from this pool to the worker.',
      perWorker((w, id) => [{ labels: id, value: w.slots.activeTasks }]),
    )
    define(
      'npu_pool_worker_max_concurrent_tasks',
      'gauge',
      "The pool's cap on requests in flight to the worker.",
      perWorker((w, id) => [{ labels: id, value: w.slots.maxConcurrentTasks }]),
    )
    define(
      'npu_pool_worker_circuit_state',
      'gauge',
      "The worker's circuit: 1 for its current state (closed, open, half_open), 0 for the others.",
      perWorker((w, id) =>
        CIRCUIT_STATES.map((state) => ({
          labels: { ...id, state },
          value: w.breaker.state === state ? 1 : 0,
        })),
      ),
    )
    define(
      'npu_pool_worker_health_state',
      'gauge',
      "The worker's health as the pool routes by it: 1 for its state (healthy, degraded, down, refused, unchecked), 0 for the others.",
      perWorker((w, id) => {
        const now = w.health.label
        return HEALTH_STATES.map((state) => ({ labels: { ...id, state }, value: state === now ? 1 : 0 }))
      }),
    )
    define(
      'npu_pool_worker_enabled',
      'gauge',
      'Whether the worker is enabled in the config (1) or parked (0).',
      perWorker((w, id) => [{ labels: id, value: w.enabled ? 1 : 0 }]),
    )
    define(
      'npu_pool_worker_latency_estimate_seconds',
      'gauge',
      'The peak-EWMA latency estimate balancing uses, over all its requests (0 before a sample).',
      perWorker((w, id) => [{ labels: id, value: w.latency.overall(Date.now()) / 1000 }]),
    )
    define(
      'npu_pool_worker_request_duration_seconds',
      'histogram',
      'Duration of successful attempts on the worker.',
      perWorker((w, id) => histogram('npu_pool_worker_request_duration_seconds', id, w.traffic.durations)),
    )
    define(
      'npu_pool_worker_time_to_first_token_seconds',
      'histogram',
      'Time from sending a generation stream to the worker to its first chunk.',
      perWorker((w, id) =>
        histogram('npu_pool_worker_time_to_first_token_seconds', id, w.generation.timeToFirstToken),
      ),
    )
    define(
      'npu_pool_worker_generated_tokens_total',
      'counter',
      'Tokens the worker generated for this pool (its own usage.completion_tokens, of finished generations).',
      perWorker((w, id) => [{ labels: id, value: w.generation.tokenCount }]),
    )
    define(
      'npu_pool_worker_generations_completed_total',
      'counter',
      'Generations (streamed or not) that finished on the worker.',
      perWorker((w, id) => [{ labels: id, value: w.generation.completedCount }]),
    )
    define(
      'npu_pool_worker_streams_interrupted_total',
      'counter',
      'Generation streams that failed on the worker after their first chunk (POOL_ERR_STREAM_INTERRUPTED).',
      perWorker((w, id) => [{ labels: id, value: w.generation.interruptedCount }]),
    )
    define(
      'npu_pool_queue_wait_seconds',
      'histogram',
      'Time an attempt waited for a free worker slot, per task type or model (0 when one was free).',
      () =>
        source.waits
          .entries()
          .flatMap((e) => histogram('npu_pool_queue_wait_seconds', { need: e.key }, e.buckets)),
    )
    define('npu_pool_queued_tasks', 'gauge', 'Tasks waiting for a free worker slot now.', () => [
      { labels: {}, value: source.queuedTasks() },
    ])
    define(
      'npu_pool_tasks_started_total',
      'counter',
      'Tasks started (executeTask, infer, chat, complete and stream calls that passed argument checks).',
      () => [{ labels: {}, value: c.started }],
    )
    define('npu_pool_tasks_succeeded_total', 'counter', 'Tasks that succeeded.', () => [
      { labels: {}, value: c.succeeded },
    ])
    define('npu_pool_tasks_failed_total', 'counter', 'Tasks that failed, by POOL_ERR code.', () =>
      Object.entries(c.failuresByCode).map(([code, n]) => ({ labels: { code }, value: n ?? 0 })),
    )
    // Per routed need (the byTask counters of getStats(), read from the same place).
    const byNeed = (field: keyof NeedCounts) => () =>
      [...c.byNeed].map(([need, counts]) => ({ labels: { need }, value: counts[field] }))
    define(
      'npu_pool_task_type_started_total',
      'counter',
      'Tasks started per task type, model or generation route (need: task:TYPE, model:NAME, chat:MODEL, completion:MODEL, other).',
      byNeed('started'),
    )
    define(
      'npu_pool_task_type_succeeded_total',
      'counter',
      'Tasks that succeeded, per task type, model or generation route.',
      byNeed('succeeded'),
    )
    define(
      'npu_pool_task_type_failed_total',
      'counter',
      'Tasks that failed (after their retries), per task type, model or generation route.',
      byNeed('failed'),
    )
    define(
      'npu_pool_task_type_retried_total',
      'counter',
      'Retries on another worker, per task type, model or generation route.',
      byNeed('retried'),
    )
    define('npu_pool_retries_total', 'counter', 'Retries on another worker.', () => [
      { labels: {}, value: c.retries },
    ])
    define('npu_pool_retry_budget_denials_total', 'counter', 'Retries the retry budget refused.', () => [
      { labels: {}, value: c.retriesDenied },
    ])
    define(
      'npu_pool_ejection_panics_total',
      'counter',
      'Times a priority tier went past its ejection cap.',
      () => [{ labels: {}, value: c.panics }],
    )
    define(
      'npu_pool_routed_while_ejected_total',
      'counter',
      'Attempts sent to an ejected worker under the ejection cap.',
      () => [{ labels: {}, value: c.routedWhileEjected }],
    )
    define(
      'npu_pool_tier_panicking',
      'gauge',
      'Priority tiers past their ejection cap now (1 per panicking tier).',
      () => source.panickingTiers().map((priority) => ({ labels: { priority }, value: 1 })),
    )
  }

  /** The exposition text (Prometheus format) of the registry the metrics are in. */
  text(): Promise<string> {
    return this.registry.metrics()
  }

  /** The content type of {@link text}. */
  get contentType(): string {
    return this.registry.contentType
  }
}
