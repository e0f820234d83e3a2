import type { ModelRegistry } from '../models/model-registry.js'
import type { TaskPipeline } from './task-pipeline.js'

/** The task pipelines this worker knows, offered only while all of their models are ready. */
export class TaskRegistry {
  readonly #pipelines = new Map<string, TaskPipeline>()

  constructor(readonly models: ModelRegistry) {}

  /** Adds a pipeline; a second one with the same type is a programming error. */
  add(pipeline: TaskPipeline): void {
    if (this.#pipelines.has(pipeline.type)) throw new Error(`task type ${pipeline.type} registered twice`)
    this.#pipelines.set(pipeline.type, pipeline)
  }

  /** The pipeline of `type` when it can run now (all its models ready), else undefined. */
  get(type: string): TaskPipeline | undefined {
    const pipeline = this.#pipelines.get(type)
    return pipeline && this.#ready(pipeline) ? pipeline : undefined
  }

  /** Task types that can run now, sorted (what `/health` advertises and the pool routes by). */
  available(): string[] {
    return [...this.#pipelines.values()]
      .filter((p) => this.#ready(p))
      .map((p) => p.type)
      .sort()
  }

  /** Every registered pipeline, ready or not (raw-body content types are registered for all of them). */
  all(): TaskPipeline[] {
    return [...this.#pipelines.values()]
  }

  /** True when `type` is registered, even if its models are not ready yet. */
  has(type: string): boolean {
    return this.#pipelines.has(type)
  }

  #ready(pipeline: TaskPipeline): boolean {
    if (pipeline.isReady) return pipeline.isReady()
    return pipeline.models.every((name) => this.models.resolve(name)?.state === 'ready')
  }
}
