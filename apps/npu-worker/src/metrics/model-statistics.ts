import type { InferBatchStatistics, ModelStatistics, StatisticDuration } from '@npu-fleet/protocol'
import type { ComputeTimes, ExecutionRecord, RequestRecord } from '../scheduler/model-queue.js'

/** A model version as the statistics key it. */
interface ModelKey {
  name: string
  version: string
}

/** A mutable {@link StatisticDuration}. */
interface Duration {
  count: number
  ns: number
}

interface ComputeDurations {
  input: Duration
  infer: Duration
  output: Duration
}

interface VersionStatistics {
  lastInference: number
  inferenceCount: number
  executionCount: number
  success: Duration
  fail: Duration
  queue: Duration
  compute: ComputeDurations
  batches: Map<number, ComputeDurations>
}

const duration = (): Duration => ({ count: 0, ns: 0 })
const computeDurations = (): ComputeDurations => ({
  input: duration(),
  infer: duration(),
  output: duration(),
})
const add = (into: Duration, seconds: number) => {
  into.count++
  into.ns += Math.round(seconds * 1e9)
}
const addCompute = (into: ComputeDurations, times: ComputeTimes) => {
  add(into.input, times.input)
  add(into.infer, times.infer)
  add(into.output, times.output)
}
const copy = ({ count, ns }: Duration): StatisticDuration => ({ count, ns })

/**
 * The statistics extension's counters (Triton's per model version `ModelStatistics`), kept since the worker
 * started. WorkerMetrics feeds them from the scheduler's events, the same ones its Prometheus instruments
 * record, so `/v2/models/stats` and `/metrics` count the same requests.
 */
export class ModelStatisticsBook {
  /** By model name, then version: two lookups and no key string built per request. */
  readonly #models = new Map<string, Map<string, VersionStatistics>>()

  /** Records one execution: a successful one counts, and its compute phases go to its batch size. */
  recordExecution(model: ModelKey, record: ExecutionRecord): void {
    if (!record.ok) return
    const stats = this.#of(model)
    stats.executionCount++
    stats.lastInference = Date.now()
    let batch = stats.batches.get(record.batchSize)
    if (!batch) {
      batch = computeDurations()
      stats.batches.set(record.batchSize, batch)
    }
    addCompute(batch, record.compute)
  }

  /** Records one settled request: success or fail with its time in the worker; a success's queue and compute phases. */
  recordRequest(model: ModelKey, record: RequestRecord): void {
    const stats = this.#of(model)
    if (!record.ok) {
      add(stats.fail, record.seconds)
      return
    }
    add(stats.success, record.seconds)
    stats.inferenceCount += record.inferences
    add(stats.queue, record.queueSeconds)
    if (record.compute) addCompute(stats.compute, record.compute)
  }

  /** The statistics of one version, zeros when it has served nothing. */
  of(model: ModelKey): ModelStatistics {
    const stats = this.#models.get(model.name)?.get(model.version)
    const zero = stats ?? emptyStatistics()
    const batchStats: InferBatchStatistics[] = [...zero.batches.entries()]
      .sort(([a], [b]) => a - b)
      .map(([batchSize, compute]) => ({
        batch_size: batchSize,
        compute_input: copy(compute.input),
        compute_infer: copy(compute.infer),
        compute_output: copy(compute.output),
      }))
    return {
      name: model.name,
      version: model.version,
      last_inference: zero.lastInference,
      inference_count: zero.inferenceCount,
      execution_count: zero.executionCount,
      inference_stats: {
        success: copy(zero.success),
        fail: copy(zero.fail),
        queue: copy(zero.queue),
        compute_input: copy(zero.compute.input),
        compute_infer: copy(zero.compute.infer),
        compute_output: copy(zero.compute.output),
      },
      batch_stats: batchStats,
    }
  }

  #of(model: ModelKey): VersionStatistics {
    let versions = this.#models.get(model.name)
    if (!versions) {
      versions = new Map()
      this.#models.set(model.name, versions)
    }
    let stats = versions.get(model.version)
    if (!stats) {
      stats = emptyStatistics()
      versions.set(model.version, stats)
    }
    return stats
  }
}

function emptyStatistics(): VersionStatistics {
  return {
    lastInference: 0,
    inferenceCount: 0,
    executionCount: 0,
    success: duration(),
    fail: duration(),
    queue: duration(),
    compute: computeDurations(),
    batches: new Map(),
  }
}
