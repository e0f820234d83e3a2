import { issueLines } from '@npu-fleet/protocol'
import type { z } from 'zod'
import { PoolError, PoolErrorCode } from '../errors.js'
import { LoadBalancingSchema, PoolSectionSchema } from './config-schema.js'
import { configErrorMap } from './format-issues.js'

/** One worker entry of the pool's config, normalised: a validated base URL and every default applied. */
export interface WorkerEntry {
  id: string
  /** Base URL without a trailing slash and without credentials, e.g. `http://10.0.0.5:8081`. */
  url: string
  /** `scheme://host:port` (what undici connects to). */
  origin: string
  /** Path prefix before `/health`, `/v1/...`, `/v2/...` (empty unless the URL has a path). */
  basePath: string
  /** 1 (lowest) to 10 (highest); the highest tier with room gets the traffic. */
  priority: number
  enabled: boolean
  /** Requests the pool keeps in flight on this worker at most (also its undici connection count). */
  maxConcurrentTasks: number
  /** Bearer token for the worker, or null. */
  authToken: string | null
}

/** Balancing, health, breaker, retry and queue settings (milliseconds where the YAML says seconds). */
export interface LoadBalancingConfig {
  /** 0 = no background monitor (on-demand checks only). */
  healthCheckIntervalMs: number
  healthCheckTimeoutMs: number
  healthStaleMs: number
  unhealthyThreshold: number
  healthyThreshold: number
  failureThreshold: number
  retryCooldownMs: number
  maxCooldownMs: number
  attemptTimeoutMs: number
  taskTimeoutMs: number
  /** A stream silent this long counts as failed on its worker. */
  streamIdleTimeoutMs: number
  maxAttempts: number
  retryBudgetRatio: number
  retryBudgetMinRetries: number
  retryBudgetWindowMs: number
  maxQueuedTasks: number
  /** Ramp of a worker that joins or whose circuit closes; 0 = none. */
  slowStartMs: number
  /** Share of a priority tier that open circuits and silent health checks may take out before the tier panics. */
  maxEjectionPercent: number
  /** Decay time of the peak-EWMA latency estimate that balances within a tier. */
  latencyDecayMs: number
}

/** Where a config came from. */
export type ConfigSource =
  | { kind: 'file'; path: string }
  | { kind: 'env'; variable: string; missingPath: string | null }
  | { kind: 'object' }

/** A validated pool config. */
export interface PoolConfig {
  workers: WorkerEntry[]
  loadBalancing: LoadBalancingConfig
  source: ConfigSource
  /** Things the operator should know that did not stop loading (logged at WARN by the pool). */
  warnings: string[]
}

/** Thrown when a config is invalid; `issues` has one `path: message` line per problem. */
export class PoolConfigError extends PoolError {
  constructor(
    readonly where: string,
    readonly issues: readonly string[],
  ) {
    super(PoolErrorCode.CONFIG_INVALID, `${where}: ${issues.join('; ')}`, { issues: [...issues] })
  }
}

/** Options of {@link parsePoolConfig}. */
export interface ParsePoolConfigOptions {
  /** Where the object came from (file path or `config object`), used in error messages. */
  where?: string
  source?: ConfigSource
  /** Environment for `NPU_WORKER_TOKEN` (default token). Default: `process.env`. */
  env?: NodeJS.ProcessEnv
}

/**
 * Validates a parsed config document in either form (`workers:` at the top, or under `npu:`) and returns it
 * normalised. Throws {@link PoolConfigError} naming every bad field (`workers[1].priority: must be between 1 and 10`).
 */
export function parsePoolConfig(document: unknown, options: ParsePoolConfigOptions = {}): PoolConfig {
  const where = options.where ?? 'config'
  const fail = (issues: string[]): never => {
    throw new PoolConfigError(where, issues)
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    return fail(['expected a mapping with `workers:` (form 1) or `npu: { workers: }` (form 2)'])
  }
  const top = document as Record<string, unknown>
  const hasForm1 = 'workers' in top || 'load_balancing' in top
  const hasForm2 = 'npu' in top
  if (hasForm1 && hasForm2) {
    // The seeds' zero-workers outage came from two forms under one path; refuse to guess.
    return fail(['both `workers:` (form 1) and `npu:` (form 2) are present; use one form'])
  }
  if (!hasForm1 && !hasForm2) {
    return fail(['no workers: expected `workers:` (form 1) or `npu: { workers: }` (form 2)'])
  }
  let section: unknown
  let prefix: string
  if (hasForm2) {
    section = top.npu
    prefix = 'npu'
  } else {
    // Form 1 owns the whole file: unknown top-level keys are typos, not other sections.
    section = top
    prefix = ''
  }
  const parsed = PoolSectionSchema.safeParse(section, { error: configErrorMap })
  if (!parsed.success) return fail(issueLines(parsed.error.issues, { prefix }))
  const at = (path: string) => (prefix === '' ? path : `${prefix}.${path}`)

  const issues: string[] = []
  const seen = new Map<string, number>()
  const defaultToken = parsed.data.auth_token ?? nonEmpty((options.env ?? process.env).NPU_WORKER_TOKEN)
  const workers: WorkerEntry[] = []
  parsed.data.workers.forEach((entry, index) => {
    const path = at(`workers[${index}]`)
    const first = seen.get(entry.id)
    if (first !== undefined) issues.push(`${path}.id: duplicate id "${entry.id}" (also workers[${first}])`)
    else seen.set(entry.id, index)
    let url: string | undefined
    if (entry.url !== undefined) {
      if (entry.host !== undefined || entry.port !== undefined) {
        issues.push(`${path}: give either url or host and port, not both`)
        return
      }
      url = entry.url
    } else if (entry.host !== undefined && entry.port !== undefined) {
      const host = entry.host.includes(':') && !entry.host.startsWith('[') ? `[${entry.host}]` : entry.host
      url = `http://${host}:${entry.port}`
    } else if (entry.host !== undefined) {
      issues.push(`${path}.port: required with host`)
      return
    } else if (entry.port !== undefined) {
      issues.push(`${path}.host: required with port`)
      return
    } else {
      issues.push(`${path}: required: url, or host and port`)
      return
    }
    const target = parseWorkerUrl(url)
    if (typeof target === 'string') {
      issues.push(`${path}.${entry.url !== undefined ? 'url' : 'host'}: ${target}`)
      return
    }
    workers.push({
      id: entry.id,
      ...target,
      priority: entry.priority,
      enabled: entry.enabled,
      maxConcurrentTasks: entry.max_concurrent_tasks,
      authToken: entry.auth_token ?? defaultToken ?? null,
    })
  })
  if (issues.length > 0) return fail(issues)

  const withDefaults = toLoadBalancing(parsed.data.load_balancing ?? LoadBalancingSchema.parse({}))
  if (withDefaults.maxCooldownMs < withDefaults.retryCooldownMs) {
    return fail([`${at('load_balancing.max_cooldown_seconds')}: must be at least retry_cooldown_seconds`])
  }
  return { workers, loadBalancing: withDefaults, source: options.source ?? { kind: 'object' }, warnings: [] }
}

function toLoadBalancing(parsed: z.output<typeof LoadBalancingSchema>): LoadBalancingConfig {
  const ms = (s: number) => Math.round(s * 1000)
  return {
    healthCheckIntervalMs: ms(parsed.health_check_interval),
    healthCheckTimeoutMs: ms(parsed.health_check_timeout_seconds),
    healthStaleMs: ms(
      parsed.health_stale_seconds ??
        (parsed.health_check_interval > 0 ? parsed.health_check_interval * 1.5 : 30),
    ),
    unhealthyThreshold: parsed.unhealthy_threshold,
    healthyThreshold: parsed.healthy_threshold,
    failureThreshold: parsed.failure_threshold,
    retryCooldownMs: ms(parsed.retry_cooldown_seconds),
    maxCooldownMs: ms(parsed.max_cooldown_seconds ?? Math.max(300, parsed.retry_cooldown_seconds)),
    attemptTimeoutMs: ms(parsed.timeout_seconds),
    taskTimeoutMs: ms(parsed.task_timeout_seconds),
    streamIdleTimeoutMs: ms(parsed.stream_idle_timeout_seconds),
    maxAttempts: parsed.max_attempts,
    retryBudgetRatio: parsed.retry_budget_ratio,
    retryBudgetMinRetries: parsed.retry_budget_min_retries,
    retryBudgetWindowMs: ms(parsed.retry_budget_window_seconds),
    maxQueuedTasks: parsed.max_queued_tasks,
    slowStartMs: ms(parsed.slow_start_seconds),
    maxEjectionPercent: parsed.max_ejection_percent,
    latencyDecayMs: ms(parsed.latency_decay_seconds),
  }
}

/** The default `load_balancing` settings (what an empty section means). */
export function defaultLoadBalancing(): LoadBalancingConfig {
  return toLoadBalancing(LoadBalancingSchema.parse({}))
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value
}

/**
 * Checks a worker base URL: http(s) only, a host, no credentials (they would leak into logs and admin
 * routes: use `auth_token`), no query or fragment. Returns the normalised parts or a message.
 */
export function parseWorkerUrl(raw: string): Pick<WorkerEntry, 'url' | 'origin' | 'basePath'> | string {
  let parsed: URL
  try {
    parsed = new URL(raw)
  } catch {
    return `not a valid URL: ${JSON.stringify(raw)}`
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    return `must be an http:// or https:// URL, got ${JSON.stringify(parsed.protocol.slice(0, -1))}`
  }
  if (parsed.hostname === '') return 'must name a host'
  if (parsed.username !== '' || parsed.password !== '') {
    return 'must not contain credentials (use auth_token)'
  }
  if (parsed.search !== '' || parsed.hash !== '') return 'must not have a query or fragment'
  const basePath = parsed.pathname.replace(/\/+$/, '')
  return { url: `${parsed.origin}${basePath}`, origin: parsed.origin, basePath }
}
