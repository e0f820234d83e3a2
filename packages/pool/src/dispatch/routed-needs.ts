import type { RoutedNeed } from '../selection/worker-leases.js'
import { MAX_MEMOISED_NEEDS } from '../workers/pool-worker.js'

/**
 * The needs the pool routes (`task:ocr`, `model:mlp`, `model:mlp/2`), built once each so the hot path builds
 * no strings, and numbered so workers can memoise what they serve. Past {@link MAX_MEMOISED_NEEDS} names, new
 * ones are built per call with index -1 (a caller inventing names cannot grow memory).
 */
export class RoutedNeeds {
  readonly #tasks = new Map<string, RoutedNeed>()
  readonly #models = new Map<string, RoutedNeed>()
  #count = 0

  /** `POST /v1/tasks/{type}`. */
  task(type: string): RoutedNeed {
    return this.#need(this.#tasks, 'task', type, type, `/v1/tasks/${type}`)
  }

  /** `POST /v2/models/{model}[/versions/{version}]/infer`. */
  model(model: string, version: string | undefined): RoutedNeed {
    return version === undefined
      ? this.#need(this.#models, 'model', model, model, `/v2/models/${model}/infer`)
      : this.#need(
          this.#models,
          'model',
          model,
          `${model}/${version}`,
          `/v2/models/${model}/versions/${version}/infer`,
        )
  }

  #need(
    cache: Map<string, RoutedNeed>,
    kind: 'task' | 'model',
    name: string,
    key: string,
    path: string,
  ): RoutedNeed {
    const cached = cache.get(key)
    if (cached !== undefined) return cached
    if (this.#count >= MAX_MEMOISED_NEEDS) return { kind, name, key: `${kind}:${key}`, path, index: -1 }
    const need = { kind, name, key: `${kind}:${key}`, path, index: this.#count++ }
    cache.set(key, need)
    return need
  }
}
