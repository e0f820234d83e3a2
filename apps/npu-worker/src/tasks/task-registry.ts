import type { UnavailableTask } from '@npu-fleet/protocol'
import type { ModelRegistry } from '../models/model-registry.js'
import type { TaskPipeline } from './task-pipeline.js'

/** The task pipelines this worker knows, offered only while all of their models can serve. */
export class TaskRegistry {
  readonly #pipelines = new Map<string, TaskPipeline>()

  constructor(readonly models: ModelRegistry) {}

  /** Adds a pipeline; a second one with the same type is a programming error. */
  add(pipeline: TaskPipeline): void {
    if (this.#pipelines.has(pipeline.type)) throw new Error(`task type ${pipeline.type} registered twice`)
    this.#pipelines.set(pipeline.type, pipeline)
  }

  /** The pipeline of `type` when it can run now (all its models serve), else undefined. */
  get(type: string): TaskPipeline | undefined {
    const pipeline = this.#pipelines.get(type)
    return pipeline && this.#unavailableReason(pipeline) === null ? pipeline : undefined
  }

  /** Task types that can run now, sorted (what `/health` advertises and the pool routes by). */
  available(): string[] {
    return [...this.#pipelines.values()]
      .filter((p) => this.#unavailableReason(p) === null)
      .map((p) => p.type)
      .sort()
  }

  /** Registered task types that cannot run now, each with the reason (`/health` degrades on them). */
  unavailable(): UnavailableTask[] {
    return [...this.#pipelines.values()]
      .map((p) => ({ type: p.type, reason: this.#unavailableReason(p) }))
      .filter((t): t is UnavailableTask => t.reason !== null)
      .sort((a, b) => a.type.localeCompare(b.type))
  }

  /** Every registered pipeline, ready or not (raw-body content types are registered for all of them). */
  all(): TaskPipeline[] {
    return [...this.#pipelines.values()]
  }

  /** True when `type` is registered, even if its models are not ready yet. */
  has(type: string): boolean {
    return this.#pipelines.has(type)
  }

  #unavailableReason(pipeline: TaskPipeline): string | null {
    if (pipeline.unavailableReason) return pipeline.unavailableReason()
    const blocked = pipeline.models.flatMap((name) => {
      const model = this.models.resolve(name)
      if (!model) return [`${name} is not in the repository`]
      const why = model.reason()
      return model.ready()
        ? []
        : [`model ${name}:${model.version} ${model.state.kind}${why ? ` (${why})` : ''}`]
    })
    return blocked.length > 0 ? blocked.join('; ') : null
  }
}
