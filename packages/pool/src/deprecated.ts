// Names that collided with the worker's own (its WorkerConfig is its settings, its InferOptions its inference
// options), kept for one release as aliases of the new ones. Each goes in the next release.
import { type LoadPoolConfigOptions, loadPoolConfig } from './config/load-pool-config.js'
import { type ParsePoolConfigOptions, parsePoolConfig, type WorkerEntry } from './config/pool-config.js'
import type { PoolInferOptions } from './pool-types.js'

/** @deprecated Renamed {@link loadPoolConfig} (it loads the pool's file); this alias goes in the next release. */
export const loadWorkerConfig: typeof loadPoolConfig = loadPoolConfig
/** @deprecated Renamed {@link parsePoolConfig}; this alias goes in the next release. */
export const parseWorkerConfig: typeof parsePoolConfig = parsePoolConfig
/** @deprecated Renamed {@link WorkerEntry} (one entry of the pool's config); this alias goes in the next release. */
export type WorkerConfig = WorkerEntry
/** @deprecated Renamed {@link LoadPoolConfigOptions}; this alias goes in the next release. */
export type LoadWorkerConfigOptions = LoadPoolConfigOptions
/** @deprecated Renamed {@link ParsePoolConfigOptions}; this alias goes in the next release. */
export type ParseWorkerConfigOptions = ParsePoolConfigOptions
/** @deprecated Renamed {@link PoolInferOptions} (the worker has its own `InferOptions`); this alias goes in the next release. */
export type InferOptions = PoolInferOptions
