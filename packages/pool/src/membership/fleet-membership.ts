import type { CircuitState } from '../breaker/circuit-breaker.js'
import { DEFAULT_CONFIG_PATH, loadPoolConfig } from '../config/load-pool-config.js'
import {
  defaultLoadBalancing,
  type LoadBalancingConfig,
  type PoolConfig,
  parsePoolConfig,
} from '../config/pool-config.js'
import { isPoolError, PoolError, PoolErrorCode } from '../errors.js'
import type { PoolLogger } from '../logger.js'
import type { ReloadResult } from '../pool-types.js'
import { PoolWorker } from '../workers/pool-worker.js'

/** What a config change did to the workers. */
export interface MembershipDiff {
  added: PoolWorker[]
  removed: PoolWorker[]
  updated: PoolWorker[]
  unchanged: PoolWorker[]
}

/** Settings of {@link FleetMembership}. */
export interface FleetMembershipOptions {
  /** The config file, or null when the pool was built from a config object. */
  configPath: string | null
  env: NodeJS.ProcessEnv
  random: () => number
  logger: PoolLogger
  /** A worker's circuit changed state. */
  onCircuitChange: (
    worker: PoolWorker,
    state: CircuitState,
    detail: { cooldownMs: number | null; failures: number },
  ) => void
  /** A config was applied (the pool points its other parts at the new workers and settings). */
  onApplied: (config: PoolConfig, diff: MembershipDiff) => void
}

/** What a reload needs from the pool around it. */
export interface ReloadContext {
  /** False unless the pool is ready (checked before reading and again before applying). */
  ready: () => boolean
  /** Why it is not ready, for the message. */
  state: () => string
  /** Health-checks new workers before the reload resolves. */
  checkAdded: (workers: readonly PoolWorker[]) => Promise<void>
}

/**
 * Who is in the fleet: the config (file or object), the workers built from it, and reloads. A reload keeps the
 * state of every worker with the same id and URL (breaker, counters, latency, in-flight requests) and applies
 * its new priority, `enabled`, cap or token at once; a removed worker leaves selection at once and drains
 * (its transport closes once its requests finish). One reload at a time; an invalid config changes nothing.
 */
export class FleetMembership {
  readonly #options: FleetMembershipOptions
  #config: PoolConfig | null = null
  #settings: LoadBalancingConfig = defaultLoadBalancing()
  #workers: PoolWorker[] = []
  readonly #draining = new Set<PoolWorker>()
  #reloading: Promise<ReloadResult> | null = null

  constructor(options: FleetMembershipOptions) {
    this.#options = options
  }

  /** The validated config in use, or null before the first. */
  get config(): PoolConfig | null {
    return this.#config
  }
  /** The load-balancing settings in force (the defaults until a config is applied). */
  get settings(): LoadBalancingConfig {
    return this.#settings
  }
  /** Every configured worker, in config order. */
  get workers(): readonly PoolWorker[] {
    return this.#workers
  }
  /** Workers a reload removed that still finish requests. */
  get draining(): ReadonlySet<PoolWorker> {
    return this.#draining
  }

  /** Reads and validates the config: `document` when given, else the file (missing file: `NPU_WORKER_URL`). */
  async read(document: unknown): Promise<PoolConfig> {
    const { env, configPath } = this.#options
    if (document !== undefined) return parsePoolConfig(document, { where: 'config object', env })
    return loadPoolConfig(configPath ?? DEFAULT_CONFIG_PATH, { env })
  }

  /** Makes `config` the running one; workers with the same id and URL keep their state. */
  apply(config: PoolConfig): MembershipDiff {
    const lb = config.loadBalancing
    const previous = new Map(this.#workers.map((w) => [w.id, w]))
    const next: PoolWorker[] = []
    const diff: MembershipDiff = { added: [], removed: [], updated: [], unchanged: [] }
    for (const entry of config.workers) {
      const existing = previous.get(entry.id)
      if (existing !== undefined && existing.entry.url === entry.url) {
        previous.delete(entry.id)
        const same = JSON.stringify(existing.entry) === JSON.stringify(entry)
        const oldTransport = existing.reconfigure(entry, lb)
        if (oldTransport) void oldTransport.close().catch(() => undefined)
        ;(same ? diff.unchanged : diff.updated).push(existing)
        next.push(existing)
        continue
      }
      const worker: PoolWorker = new PoolWorker(entry, lb, {
        random: this.#options.random,
        onStateChange: (state, detail) => this.#options.onCircuitChange(worker, state, detail),
      })
      diff.added.push(worker)
      next.push(worker)
    }
    diff.removed = [...previous.values()]
    for (const w of diff.removed) this.#retire(w)
    ;[...next]
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .forEach((w, i) => {
        w.placeAt(i)
      })
    this.#config = config
    this.#settings = lb
    this.#workers = next
    this.#options.onApplied(config, diff)
    return diff
  }

  /**
   * Re-reads the config file (or applies `document`). One reload at a time: a file watch and an admin call
   * must not interleave their diffs.
   */
  async reload(document: unknown, context: ReloadContext): Promise<ReloadResult> {
    const previous = this.#reloading ?? Promise.resolve(null)
    const run = previous.catch(() => null).then(() => this.#reload(document, context))
    this.#reloading = run
    try {
      return await run
    } finally {
      if (this.#reloading === run) this.#reloading = null
    }
  }

  /** Closes every transport (configured and draining): requests in flight finish first. */
  async close(): Promise<void> {
    const all = [...this.#workers, ...this.#draining]
    for (const w of all) w.retire()
    await Promise.all(all.map((w) => w.transport.close().catch(() => undefined)))
  }

  async #reload(document: unknown, context: ReloadContext): Promise<ReloadResult> {
    const workersLoaded = this.#workers.length
    const refuse = (code: PoolErrorCode, message: string): ReloadResult => ({
      success: false,
      workersLoaded,
      message,
      code,
    })
    if (!context.ready()) return refuse(PoolErrorCode.NOT_INITIALIZED, `the pool is ${context.state()}`)
    let config: PoolConfig
    try {
      if (document === undefined && this.#options.configPath === null) {
        throw new PoolError(
          PoolErrorCode.CONFIG_INVALID,
          'the pool was built from a config object: pass the new config to reloadConfig(config)',
        )
      }
      config = await this.read(document)
      // A file deleted under a running pool is a mistake, not a request to fall back to NPU_WORKER_URL.
      if (config.source.kind === 'env') {
        throw new PoolError(
          PoolErrorCode.CONFIG_INVALID,
          `${this.#options.configPath}: not found; keeping the current workers`,
        )
      }
    } catch (error) {
      const e = isPoolError(error)
        ? error
        : new PoolError(PoolErrorCode.CONFIG_INVALID, (error as Error).message)
      this.#options.logger.error(
        { code: e.code, err: e.message },
        'config reload failed; the previous config stays in effect',
      )
      return refuse(e.code, e.message)
    }
    // Closed while the file was being read: applying would open connections nobody closes.
    if (!context.ready()) return refuse(PoolErrorCode.CLOSED, 'the pool was closed')
    const diff = this.apply(config)
    await context.checkAdded(diff.added)
    const n = this.#workers.length
    const message =
      `reloaded ${n} worker${n === 1 ? '' : 's'}: ` +
      `${diff.added.length} added, ${diff.removed.length} removed, ${diff.updated.length} updated, ${diff.unchanged.length} unchanged`
    this.#options.logger.info(
      {
        added: diff.added.map((w) => w.id),
        removed: diff.removed.map((w) => w.id),
        updated: diff.updated.map((w) => w.id),
      },
      message,
    )
    return { success: true, workersLoaded: n, message }
  }

  /** Takes a worker out of rotation; its in-flight requests finish, then its connections close. */
  #retire(worker: PoolWorker): void {
    worker.retire()
    this.#draining.add(worker)
    void worker.transport
      .close()
      .catch(() => undefined)
      .finally(() => this.#draining.delete(worker))
  }
}
