import type { ModelStatisticsResponse } from '@npu-fleet/protocol'
import type { ModelStatisticsBook } from '../metrics/model-statistics.js'
import type { ModelRegistry } from '../models/model-registry.js'
import { findModel } from './model-lookup.js'

/** Which statistics a request asks for: every model (no name), every version of one, or one version. */
export interface StatisticsRef {
  name?: string | undefined
  version?: string | undefined
}

/**
 * `GET /v2/models[/{name}[/versions/{v}]]/stats`, gRPC `ModelStatistics`: the statistics of the tensor models
 * the registry holds now (an unknown name or version is the 404 every per-model route answers).
 */
export function modelStatistics(
  registry: ModelRegistry,
  book: ModelStatisticsBook,
  { name, version }: StatisticsRef,
): ModelStatisticsResponse {
  let models = registry.all()
  if (name) {
    const found = findModel(registry, { name, version })
    models = version === undefined ? registry.versions(found.name) : [found]
  }
  const sorted = [...models].sort(
    (a, b) => a.name.localeCompare(b.name) || Number(a.version) - Number(b.version),
  )
  return { model_stats: sorted.map((m) => book.of(m)) }
}
