import type { Load } from '@npu-fleet/protocol'
import type { Tensor } from '../backends/tensor.js'
import type { ModelDefaults } from '../models/model-registry.js'
import type { RegisteredModel } from '../models/registered-model.js'
import { ModelQueue, type QueueObserver, type RunOptions } from './model-queue.js'

/** Options of the scheduler. */
export interface SchedulerOptions {
  defaults: Pick<ModelDefaults, 'queueMaxQueued'>
  /** Told of every queue wait, execution and settled request (the metrics). */
  observer?: QueueObserver
}

/** Routes every inference (KServe and tasks alike) through one bounded queue per model version. */
export class Scheduler {
  readonly #queues = new Map<RegisteredModel, ModelQueue>()

  constructor(readonly options: SchedulerOptions) {}

  /** The queue of one model version (created on first use). */
  queue(model: RegisteredModel): ModelQueue {
    let queue = this.#queues.get(model)
    if (!queue) {
      queue = new ModelQueue(
        model,
        model.queueCapacity(this.options.defaults.queueMaxQueued),
        this.options.observer,
      )
      this.#queues.set(model, queue)
    }
    return queue
  }

  /** Runs one inference; rejects with NPU_ERR_MODEL_NOT_READY, _QUEUE_FULL, _DEADLINE_EXCEEDED, _CANCELLED or _INFERENCE_FAILED. */
  run(
    model: RegisteredModel,
    inputs: Record<string, Tensor>,
    options?: RunOptions,
  ): Promise<Record<string, Tensor>> {
    return this.queue(model).run(inputs, options)
  }

  /** Aggregate load over the models that can serve now; `capacity` counts their live slots. */
  load(models: readonly RegisteredModel[]): Load {
    const load = { active: 0, queued: 0, capacity: 0, queue_capacity: 0 }
    for (const model of models) {
      if (!model.ready()) continue
      const queue = this.queue(model)
      load.active += queue.active
      load.queued += queue.queued
      load.capacity += queue.parallelism
      load.queue_capacity += queue.queueCapacity
    }
    return load
  }

  /** Resolves once nothing runs or waits (graceful shutdown). */
  async drain(pollMs = 20): Promise<void> {
    // Polling keeps the queues free of shutdown hooks; it runs only while the worker shuts down.
    while (!this.#idle()) await new Promise((resolve) => setTimeout(resolve, pollMs))
  }

  /**
   * Resolves once nothing of `model` runs or waits (a repository unload: the model is already out of the
   * registry, so no new request reaches it), then forgets its queue. Work already queued runs to its answer.
   */
  async drainModel(model: RegisteredModel, pollMs = 20): Promise<void> {
    const queue = this.#queues.get(model)
    while (queue && (queue.active > 0 || queue.queued > 0 || queue.reserved > 0))
      await new Promise((resolve) => setTimeout(resolve, pollMs))
    this.#queues.delete(model)
  }

  #idle(): boolean {
    for (const queue of this.#queues.values()) if (queue.active > 0 || queue.queued > 0) return false
    return true
  }
}
