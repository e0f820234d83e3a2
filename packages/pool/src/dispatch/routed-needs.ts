import { DEFAULT_LANGUAGE_MODEL } from '../selection/sequence-slots.js'
import type { RoutedNeed } from '../selection/worker-leases.js'
import { MAX_MEMOISED_NEEDS } from '../workers/pool-worker.js'

/** The task types that generate text on the worker's default language model (each holds a sequence there). */
export const TEXT_GENERATION_TASKS: ReadonlySet<string> = new Set([
  'text_analysis',
  'knowledge_processing',
  'chat_inference',
])

/** The OpenAI generation routes: chat (`/v1/chat/completions`) and plain completion (`/v1/completions`). */
export type GenerationKind = 'chat' | 'completion'

const GENERATION_PATHS: Record<GenerationKind, string> = {
  chat: '/v1/chat/completions',
  completion: '/v1/completions',
}

/**
 * The needs the pool routes (`task:ocr`, `model:mlp`, `model:mlp/2`, `chat:tiny-llama-chat`), built once each so the hot path builds
 * no strings, and numbered so workers can memoise what they serve. Past {@link MAX_MEMOISED_NEEDS} names, new
 * ones are built per call with index -1 (a caller inventing names cannot grow memory).
 */
export class RoutedNeeds {
  readonly #tasks = new Map<string, RoutedNeed>()
  readonly #models = new Map<string, RoutedNeed>()
  // Apart from the unversioned ones: `mlp/2` here is model `mlp` version `2`, never a model named `mlp/2`.
  readonly #versions = new Map<string, RoutedNeed>()
  readonly #generations = new Map<string, RoutedNeed>()
  #count = 0

  /**
   * `POST /v1/tasks/{type}`; `model`: the language model a text task's input names ({@link taskModel}), which
   * the worker must serve too (key `task:TYPE@MODEL`), and whose sequence the task holds.
   */
  task(type: string, model?: string): RoutedNeed {
    if (model === undefined) {
      const sequenceModel = TEXT_GENERATION_TASKS.has(type) ? DEFAULT_LANGUAGE_MODEL : undefined
      return this.#need(this.#tasks, 'task', type, type, `/v1/tasks/${type}`, sequenceModel)
    }
    return this.#need(
      this.#tasks,
      'task',
      type,
      `${type}@${model}`,
      `/v1/tasks/${type}`,
      model,
      'task',
      model,
    )
  }

  /** `POST /v1/chat/completions` or `/v1/completions` for language model `model` (holds one of its sequences). */
  generation(kind: GenerationKind, model: string): RoutedNeed {
    return this.#need(
      this.#generations,
      'model',
      model,
      `${kind}:${model}`,
      GENERATION_PATHS[kind],
      model,
      kind,
    )
  }

  /** `POST /v2/models/{model}[/versions/{version}]/infer`. */
  model(model: string, version: string | undefined): RoutedNeed {
    return version === undefined
      ? this.#need(this.#models, 'model', model, model, `/v2/models/${model}/infer`)
      : this.#need(
          this.#versions,
          'model',
          model,
          `${model}/${version}`,
          `/v2/models/${model}/versions/${version}/infer`,
        )
  }

  /**
   * The need of unversioned model `model` when one was built before (only names that passed the caller's
   * checks are), else undefined: lets the hot path skip checking a name it has routed already.
   */
  knownModel(model: unknown): RoutedNeed | undefined {
    return typeof model === 'string' ? this.#models.get(model) : undefined
  }

  #need(
    cache: Map<string, RoutedNeed>,
    kind: 'task' | 'model',
    name: string,
    key: string,
    path: string,
    sequenceModel?: string,
    keyPrefix: string = kind,
    model?: string,
  ): RoutedNeed {
    const cached = cache.get(key)
    if (cached !== undefined) return cached
    const fields = { kind, name, key: keyPrefix === kind ? `${kind}:${key}` : key, path }
    const generation = {
      ...(sequenceModel === undefined ? {} : { sequenceModel }),
      ...(model === undefined ? {} : { model }),
    }
    if (this.#count >= MAX_MEMOISED_NEEDS) return { ...fields, ...generation, index: -1 }
    const need = { ...fields, ...generation, index: this.#count++ }
    cache.set(key, need)
    return need
  }
}

/**
 * The language model a seeds' text task names in its input (`model`, else the seeds' `model_id`; the
 * protocol's `modelChoice`), or undefined for the worker's default (absent, `"default"`, another task type, or
 * not a string: the worker's own schema then answers the 400).
 */
export function taskModel(type: string, data: unknown): string | undefined {
  if (!TEXT_GENERATION_TASKS.has(type) || typeof data !== 'object' || data === null) return undefined
  const { model, model_id } = data as { model?: unknown; model_id?: unknown }
  const named = model ?? model_id
  return typeof named === 'string' && named !== 'default' ? named : undefined
}
