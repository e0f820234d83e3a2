import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import type { RepositoryIndexEntry } from '@npu-fleet/protocol'
import type { FastifyBaseLogger } from 'fastify'
import type { WorkerConfig } from '../config.js'
import { ErrModelControlDisabled, ErrModelLoadFailed, ErrModelNotFound, ErrNotServing } from '../errors.js'
import type { Scheduler } from '../scheduler/scheduler.js'
import { settleWithin } from '../time-limit.js'
import type { ModelRegistry } from './model-registry.js'
import { isValidModelName, scanModel } from './model-repository.js'
import { stateReason } from './model-state.js'
import type { RegisteredModel } from './registered-model.js'

/** What repository control works with. */
export interface RepositoryControlOptions {
  registry: ModelRegistry
  scheduler: Scheduler
  config: Pick<WorkerConfig, 'models_dir' | 'model_control' | 'model_poll_interval_ms' | 'shutdown_grace_ms'>
  /** True while the worker serves: loads and unloads wait for the start-up load and stop at the drain. */
  serving: () => boolean
  log: Pick<FastifyBaseLogger, 'info' | 'warn' | 'error'>
}

/**
 * The model repository extension (Triton's): the index of `models_dir`, and loading, reloading and unloading one
 * model while the worker serves. A (re)load reads the model's folder again and loads every version its policy
 * picks; a version already serving keeps serving until its replacement is ready, and keeps serving when the
 * replacement fails. An unload takes the model out of the registry first (new requests get 404
 * NPU_ERR_MODEL_NOT_FOUND), lets its queued and running requests finish (at most `shutdown_grace_ms`), then
 * unloads it. `model_control: poll` applies what changes in the folder. One operation runs at a time.
 * Language models (`generation:`) are loaded at start only.
 */
export class RepositoryControl {
  readonly #options: RepositoryControlOptions
  /** Operations in order: loads, unloads and polls never interleave. */
  #chain: Promise<unknown> = Promise.resolve()
  #pollTimer: NodeJS.Timeout | null = null
  /** Each model folder's fingerprint as last applied by a poll. */
  readonly #seen = new Map<string, string>()
  #stopped = false

  constructor(options: RepositoryControlOptions) {
    this.#options = options
    // Built right after the registry scanned the folder: what is there now is what start-up loads.
    if (options.config.model_control === 'poll')
      for (const name of this.#folderNames()) this.#seen.set(name, this.#fingerprint(name))
  }

  /** `POST /v2/repository/index`: every model folder and every version held, with state and reason. */
  index(readyOnly = false): RepositoryIndexEntry[] {
    const { registry, config } = this.#options
    const entries: RepositoryIndexEntry[] = registry.all().map((m) => ({
      name: m.name,
      version: m.version,
      state: m.state.kind,
      reason: stateReason(m.state) ?? '',
    }))
    if (!readyOnly) {
      const held = new Set(registry.all().map((m) => m.name))
      for (const name of this.#folderNames()) {
        if (held.has(name) || registry.generators.all().some((g) => g.name === name)) continue
        let reason = 'not loaded'
        try {
          scanModel(config.models_dir, name)
        } catch (error) {
          reason = (error as Error).message
        }
        entries.push({ name, state: 'unavailable', reason })
      }
    }
    const shown = readyOnly ? entries.filter((e) => registry.resolve(e.name, e.version)?.ready()) : entries
    return shown.sort(
      (a, b) => a.name.localeCompare(b.name) || Number(a.version ?? 0) - Number(b.version ?? 0),
    )
  }

  /** `POST /v2/repository/models/{name}/load`: (re)loads a model from its folder; rejects naming what failed. */
  load(name: string): Promise<void> {
    this.#allowed('load')
    return this.#serialized(() => this.#load(name))
  }

  /** `POST /v2/repository/models/{name}/unload`: drains and unloads every version of a model. */
  unload(name: string): Promise<void> {
    this.#allowed('unload')
    if (!isValidModelName(name) || this.#options.registry.versions(name).length === 0)
      return Promise.reject(new ErrModelNotFound(name))
    return this.#serialized(() => this.#unload(name))
  }

  /** With `model_control: poll`, starts watching the folder (the first poll records what start-up loaded). */
  start(): void {
    if (this.#options.config.model_control !== 'poll' || this.#pollTimer || this.#stopped) return
    this.#pollTimer = setTimeout(() => {
      this.#pollTimer = null
      void this.#serialized(() => this.#poll())
        .catch((error: Error) => this.#options.log.error({ err: error }, 'model repository poll failed'))
        .finally(() => this.start())
    }, this.#options.config.model_poll_interval_ms)
    this.#pollTimer.unref()
  }

  /** Stops polling (shutdown); an operation already running finishes. */
  stop(): void {
    this.#stopped = true
    if (this.#pollTimer) clearTimeout(this.#pollTimer)
    this.#pollTimer = null
  }

  #allowed(action: 'load' | 'unload'): void {
    if (this.#options.config.model_control === 'none') throw new ErrModelControlDisabled(action)
    if (!this.#options.serving()) throw new ErrNotServing('not serving (starting or draining)')
  }

  #serialized<T>(operation: () => Promise<T>): Promise<T> {
    const run = this.#chain.then(operation, operation)
    this.#chain = run.catch(() => {})
    return run
  }

  async #load(name: string): Promise<void> {
    const { registry, config, log } = this.#options
    if (!isValidModelName(name) || !existsSync(join(config.models_dir, name)))
      throw new ErrModelNotFound(`${name} (no folder ${name} in ${config.models_dir})`)
    let specs: ReturnType<typeof scanModel>
    try {
      specs = scanModel(config.models_dir, name)
    } catch (error) {
      // The folder or its model.yaml is broken: nothing changes, what serves keeps serving.
      log.error({ model: name, err: error }, 'model load refused')
      throw new ErrModelLoadFailed(name, (error as Error).message)
    }
    if (specs.some((s) => s.manifest.generation))
      throw new ErrModelLoadFailed(name, 'language models (generation:) are loaded at start only')

    const old = registry.versions(name)
    const fresh = specs.map((spec) => registry.create(spec))
    // A new version shows in /health as loading; one that replaces a serving version stays out until ready.
    for (const m of fresh) if (!old.some((o) => o.version === m.version)) registry.add(m)
    await Promise.all(fresh.map((m) => registry.load(m)))

    const failures: string[] = []
    for (const m of fresh) {
      const previous = old.find((o) => o.version === m.version)
      if (m.ready()) {
        registry.add(m)
        if (previous) await this.#retire(previous)
        continue
      }
      failures.push(`version ${m.version}: ${m.reason() ?? m.state.kind}`)
      if (previous?.ready()) {
        // The running version keeps serving; the failed replacement is let go.
        await registry.unload(m)
      } else {
        if (previous) await this.#retire(previous)
        registry.add(m)
      }
    }
    // Versions the policy no longer picks (a newer one under `latest`, a removed folder) are retired once
    // something of the model serves.
    for (const o of old) if (!fresh.some((m) => m.version === o.version)) await this.#retire(o)
    log.info(
      { model: name, versions: fresh.map((m) => `${m.version}:${m.state.kind}`) },
      failures.length > 0 ? 'model load failed' : 'model loaded',
    )
    if (failures.length > 0) throw new ErrModelLoadFailed(name, failures.join('; '))
  }

  async #unload(name: string): Promise<void> {
    await Promise.all(this.#options.registry.versions(name).map((m) => this.#retire(m)))
    this.#options.log.info({ model: name }, 'model unloaded')
  }

  /** Takes a version out of the registry, lets its requests finish (bounded), then unloads it. */
  async #retire(m: RegisteredModel): Promise<void> {
    const { registry, scheduler, config, log } = this.#options
    registry.remove(m)
    const drained = await settleWithin(scheduler.drainModel(m), config.shutdown_grace_ms)
    if (drained === 'timeout') {
      log.warn(
        { model: m.name, version: m.version },
        `requests still running after shutdown_grace_ms (${config.shutdown_grace_ms} ms); unloading anyway`,
      )
      scheduler.queue(m).rejectWaiting(m.notReadyError())
    }
    await registry.unload(m)
  }

  /** One poll: loads new and changed model folders, unloads models whose folder went away. */
  async #poll(): Promise<void> {
    if (!this.#options.serving()) return
    const { registry } = this.#options
    const folders = new Map(this.#folderNames().map((name) => [name, this.#fingerprint(name)]))
    for (const [name, print] of folders) {
      if (this.#seen.get(name) === print) continue
      this.#seen.set(name, print)
      if (registry.generators.all().some((g) => g.name === name)) continue
      await this.#load(name).catch((error: Error) =>
        this.#options.log.error({ model: name, err: error }, 'polled model load failed'),
      )
    }
    for (const name of [...this.#seen.keys()]) {
      if (folders.has(name)) continue
      this.#seen.delete(name)
      if (registry.versions(name).length > 0) await this.#unload(name)
    }
  }

  #folderNames(): string[] {
    const root = this.#options.config.models_dir
    if (!existsSync(root)) return []
    return readdirSync(root, { withFileTypes: true })
      .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
      .map((e) => e.name)
      .sort()
  }

  /** Names, sizes and modification times of everything in a model folder: a change in any file changes it. */
  #fingerprint(name: string): string {
    const parts: string[] = []
    const walk = (dir: string, prefix: string) => {
      for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) =>
        a.name.localeCompare(b.name),
      )) {
        const path = join(dir, entry.name)
        if (entry.isDirectory()) walk(path, `${prefix}${entry.name}/`)
        else {
          const stat = statSync(path, { throwIfNoEntry: false })
          if (stat) parts.push(`${prefix}${entry.name}:${stat.size}:${stat.mtimeMs}`)
        }
      }
    }
    try {
      walk(join(this.#options.config.models_dir, name), '')
    } catch {
      // The folder is being changed while we read it: the next poll sees it whole.
      return `unreadable:${Date.now()}`
    }
    return parts.join('|')
  }
}
