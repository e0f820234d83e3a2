import { readFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { dirname, isAbsolute, join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { issueLine, issuePath, MIN_TOKEN_LENGTH } from '@npu-fleet/protocol'
import { parse as parseYaml } from 'yaml'
import { z } from 'zod'
import { DEFAULT_MODELS_DIR } from './models/default-model-repository.js'
import { InstanceIdleTimeoutSchema } from './models/model-manifest.js'
import { GenerationTasksSchema } from './tasks/generation/task-prompts.js'
import {
  enabledByDefault,
  mergeTestHooks,
  resolveTestHooks,
  type TestHooks,
  TestHooksLayerSchema,
} from './test-hooks.js'

const intIn = (min: number, max: number) => {
  const error = `expected integer ${min}..${max}`
  return z.number({ error }).int({ error }).min(min, { error }).max(max, { error })
}

/** Log levels pino accepts. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const

// Every key optional and without defaults: one layer (YAML file, env, flags) says only what it sets.
const layerShape = {
  host: z.string({ error: 'expected a host name or address' }).min(1, { error: 'must not be empty' }),
  port: intIn(0, 65535),
  grpc_port: intIn(0, 65535),
  models_dir: z.string({ error: 'expected a folder path' }).min(1, { error: 'must not be empty' }).nullable(),
  cache_dir: z.string({ error: 'expected a folder path' }).min(1, { error: 'must not be empty' }),
  auth_token: z
    .string({ error: 'expected a string' })
    .min(MIN_TOKEN_LENGTH, { error: `must be at least ${MIN_TOKEN_LENGTH} characters` })
    .nullable(),
  body_limit_bytes: intIn(1024, 2 ** 31 - 1),
  shutdown_grace_ms: intIn(0, 600_000),
  drain_delay_ms: intIn(0, 600_000),
  request_timeout_ms: intIn(1, 3_600_000),
  inference_timeout_ms: intIn(1, 3_600_000),
  default_threads: intIn(1, 256),
  default_instances: intIn(1, 64),
  default_instance_idle_timeout_ms: InstanceIdleTimeoutSchema,
  queue: z.object({ max_queued: intIn(0, 100_000).optional() }, { error: 'expected a mapping' }).strict(),
  self_test_interval_seconds: intIn(0, 86_400),
  model_control: z.enum(['none', 'explicit', 'poll'], { error: 'expected one of none, explicit, poll' }),
  model_poll_interval_ms: intIn(100, 3_600_000),
  log_level: z.enum(LOG_LEVELS, { error: `expected one of ${LOG_LEVELS.join(', ')}` }),
  test_hooks: TestHooksLayerSchema,
  generation_tasks: GenerationTasksSchema,
}

/** One configuration layer (YAML file, environment or flags): snake_case keys, all optional, unknown keys rejected. */
export const WorkerConfigLayerSchema = z.object(layerShape).partial().strict()
/** One configuration layer. */
export type WorkerConfigLayer = z.infer<typeof WorkerConfigLayerSchema>

/** The worker's configuration with every default applied (YAML keys are the same snake_case names). */
export const WorkerConfigSchema = z
  .object({
    host: layerShape.host.default('0.0.0.0'),
    port: layerShape.port.default(8081),
    /** gRPC (inference.GRPCInferenceService) port; 0 = off, the default: see README "gRPC". */
    grpc_port: layerShape.grpc_port.default(0),
    /** Model repository; null = the embedded default repository. */
    models_dir: layerShape.models_dir.default(null),
    /** OpenVINO compiled-model cache; null = `$XDG_CACHE_HOME/npu-worker` or `~/.cache/npu-worker`. */
    cache_dir: layerShape.cache_dir.nullable().default(null),
    auth_token: layerShape.auth_token.default(null),
    body_limit_bytes: layerShape.body_limit_bytes.default(64 * 1024 * 1024),
    shutdown_grace_ms: layerShape.shutdown_grace_ms.default(10_000),
    /**
     * After a shutdown signal, how long the listener stays open answering `draining` (so that clients' health
     * checks see it and move work elsewhere) before it closes; shutdown_grace_ms comes on top of it.
     */
    drain_delay_ms: layerShape.drain_delay_ms.default(0),
    /** Default deadline of an inference request when the client sends none. */
    request_timeout_ms: layerShape.request_timeout_ms.default(30_000),
    /** Hard limit of one native inference; past it the call is abandoned and its slot recycled. */
    inference_timeout_ms: layerShape.inference_timeout_ms.default(60_000),
    default_threads: layerShape.default_threads.default(1),
    default_instances: layerShape.default_instances.default(2),
    /**
     * ONNX Runtime: a model's first instance starts at load, the others when a request would wait for one; one
     * idle this long is retired (its thread, isolate and session freed). `never`: all start at load and stay.
     */
    default_instance_idle_timeout_ms: layerShape.default_instance_idle_timeout_ms.default(15_000),
    queue: z
      .object({ max_queued: intIn(0, 100_000).default(64) })
      .strict()
      .default({ max_queued: 64 }),
    /** Seconds between output-correctness self-tests of every model; 0 = only before a model turns ready. */
    self_test_interval_seconds: layerShape.self_test_interval_seconds.default(60),
    /**
     * Repository control (Triton's modes): `none` refuses load and unload; `explicit` takes them over REST and
     * gRPC; `poll` also applies what changes in `models_dir` every `model_poll_interval_ms`.
     */
    model_control: layerShape.model_control.default('none'),
    model_poll_interval_ms: layerShape.model_poll_interval_ms.default(2_000),
    log_level: layerShape.log_level.default('info'),
    /** The language-model tasks' model and prompts (tasks/generation/task-prompts.ts). */
    generation_tasks: GenerationTasksSchema.default(GenerationTasksSchema.parse({})),
    /** Test-only routes, delays, a fake OpenVINO and fault injection (test-hooks.ts); null = off. */
    test_hooks: layerShape.test_hooks.optional().transform(resolveTestHooks),
  })
  .strict()

/** The resolved worker configuration: defaults applied, `models_dir` and `cache_dir` always set. */
export type WorkerConfig = Omit<
  z.infer<typeof WorkerConfigSchema>,
  'models_dir' | 'cache_dir' | 'test_hooks'
> & {
  models_dir: string
  cache_dir: string
  test_hooks: TestHooks | null
}

/** A configuration error; the message names the source and key (`config.yaml: port: expected integer 0..65535`). */
export class ConfigError extends Error {
  override name = 'ConfigError'
}

/** Environment variables the worker reads, and the config key each sets. */
export const ENV_KEYS = {
  NPU_WORKER_HOST: 'host',
  NPU_WORKER_PORT: 'port',
  NPU_WORKER_GRPC_PORT: 'grpc_port',
  NPU_WORKER_MODELS_DIR: 'models_dir',
  NPU_WORKER_CACHE_DIR: 'cache_dir',
  NPU_WORKER_TOKEN: 'auth_token',
  NPU_WORKER_BODY_LIMIT_BYTES: 'body_limit_bytes',
  NPU_WORKER_SHUTDOWN_GRACE_MS: 'shutdown_grace_ms',
  NPU_WORKER_DRAIN_DELAY_MS: 'drain_delay_ms',
  NPU_WORKER_REQUEST_TIMEOUT_MS: 'request_timeout_ms',
  NPU_WORKER_INFERENCE_TIMEOUT_MS: 'inference_timeout_ms',
  NPU_WORKER_DEFAULT_THREADS: 'default_threads',
  NPU_WORKER_DEFAULT_INSTANCES: 'default_instances',
  NPU_WORKER_DEFAULT_INSTANCE_IDLE_TIMEOUT_MS: 'default_instance_idle_timeout_ms',
  NPU_WORKER_QUEUE_MAX_QUEUED: 'queue.max_queued',
  NPU_WORKER_SELF_TEST_INTERVAL_SECONDS: 'self_test_interval_seconds',
  NPU_WORKER_MODEL_CONTROL: 'model_control',
  NPU_WORKER_MODEL_POLL_INTERVAL_MS: 'model_poll_interval_ms',
  NPU_WORKER_LOG_LEVEL: 'log_level',
  NPU_WORKER_TEST_HOOKS: 'test_hooks',
  NPU_WORKER_TEST_LOAD_DELAY_MS: 'test_hooks.load_delay_ms',
} as const

/** Command-line flags and the config key each sets (`--config` and `--check-config` are handled apart). */
export const FLAG_KEYS = {
  host: 'host',
  port: 'port',
  'grpc-port': 'grpc_port',
  'models-dir': 'models_dir',
  'cache-dir': 'cache_dir',
  'log-level': 'log_level',
} as const

const NUMERIC_KEYS = new Set([
  'port',
  'grpc_port',
  'body_limit_bytes',
  'shutdown_grace_ms',
  'drain_delay_ms',
  'request_timeout_ms',
  'inference_timeout_ms',
  'default_threads',
  'default_instances',
  'default_instance_idle_timeout_ms',
  'queue.max_queued',
  'self_test_interval_seconds',
  'model_poll_interval_ms',
  'test_hooks.load_delay_ms',
])

/** Inputs of {@link loadWorkerConfig}: everything it would otherwise take from `process`. */
export interface LoadWorkerConfigOptions {
  /** Arguments after `node server.js`. */
  argv: readonly string[]
  env: Readonly<Record<string, string | undefined>>
  /** Base for relative paths given by flags or environment. */
  cwd: string
  /** Reads the `--config` file (injectable for tests). */
  readFile?: (path: string) => string
}

/** What {@link loadWorkerConfig} found. */
export interface LoadedWorkerConfig {
  config: WorkerConfig
  /** `--check-config`: validate and exit. */
  checkConfig: boolean
  /** The YAML file read, if any. */
  configFile: string | null
}

/**
 * Loads the configuration: defaults < YAML `--config FILE` (or NPU_WORKER_CONFIG) < `NPU_WORKER_*` env < flags.
 * Throws {@link ConfigError} naming the source and key of the first bad value of each layer.
 */
export function loadWorkerConfig(options: LoadWorkerConfigOptions): LoadedWorkerConfig {
  const { env, cwd } = options
  const flags = parseFlags(options.argv)
  const configPath = flags.config ?? env.NPU_WORKER_CONFIG ?? null
  const configFile = configPath ? resolve(cwd, configPath) : null

  const fileLayer = configFile ? readFileLayer(configFile, configPath ?? configFile, options.readFile) : {}
  const envLayer = layerFromStrings(
    Object.entries(ENV_KEYS).flatMap(([name, key]) =>
      env[name] !== undefined ? [[name, key, env[name]]] : [],
    ),
    cwd,
  )
  const flagLayer = layerFromStrings(
    Object.entries(FLAG_KEYS).flatMap(([flag, key]) => {
      const value = flags.values[flag]
      return value !== undefined ? [[`--${flag}`, key, value]] : []
    }),
    cwd,
  )

  const merged = mergeLayers([fileLayer, envLayer, flagLayer])
  return { config: resolveMerged(merged, env), checkConfig: flags.checkConfig, configFile }
}

/**
 * Applies defaults to one layer and resolves `models_dir` and `cache_dir`; a `test_hooks` mapping turns the
 * hooks on, as in a YAML file. Tests build configs with it: `resolveWorkerConfig({ port: 0, models_dir: dir })`.
 */
export function resolveWorkerConfig(
  layer: WorkerConfigLayer,
  env: Readonly<Record<string, string | undefined>> = {},
): WorkerConfig {
  const hooks = enabledByDefault(layer.test_hooks)
  return resolveMerged(hooks === undefined ? layer : { ...layer, test_hooks: hooks }, env)
}

function resolveMerged(
  layer: WorkerConfigLayer,
  env: Readonly<Record<string, string | undefined>>,
): WorkerConfig {
  const parsed = WorkerConfigSchema.safeParse(layer)
  if (!parsed.success) throw new ConfigError(describeIssues(parsed.error, 'config'))
  const config = parsed.data
  return {
    ...config,
    models_dir: config.models_dir ?? DEFAULT_MODELS_DIR,
    cache_dir: config.cache_dir ?? defaultCacheDir(env),
  }
}

/** `$XDG_CACHE_HOME/npu-worker`, else `~/.cache/npu-worker`. */
export function defaultCacheDir(env: Readonly<Record<string, string | undefined>>): string {
  const xdg = env.XDG_CACHE_HOME
  // The XDG spec says to ignore relative values.
  const base = xdg && isAbsolute(xdg) ? xdg : join(env.HOME || homedir(), '.cache')
  return join(base, 'npu-worker')
}

interface ParsedFlags {
  values: Record<string, string | undefined>
  config: string | undefined
  checkConfig: boolean
}

function parseFlags(argv: readonly string[]): ParsedFlags {
  try {
    const { values } = parseArgs({
      args: [...argv],
      options: {
        host: { type: 'string' },
        port: { type: 'string' },
        'grpc-port': { type: 'string' },
        'models-dir': { type: 'string' },
        config: { type: 'string' },
        'cache-dir': { type: 'string' },
        'log-level': { type: 'string' },
        'check-config': { type: 'boolean', default: false },
      },
      strict: true,
      allowPositionals: false,
    })
    const { config, 'check-config': checkConfig, ...rest } = values
    return { values: rest, config, checkConfig: checkConfig === true }
  } catch (error) {
    throw new ConfigError(`command line: ${(error as Error).message.replace(/\s*\n\s*/g, ' ')}`)
  }
}

function readFileLayer(
  file: string,
  label: string,
  readFile: (path: string) => string = (path) => readFileSync(path, 'utf8'),
): WorkerConfigLayer {
  let text: string
  try {
    text = readFile(file)
  } catch (error) {
    throw new ConfigError(`${label}: cannot read: ${(error as Error).message}`)
  }
  let raw: unknown
  try {
    raw = parseYaml(text) ?? {}
  } catch (error) {
    throw new ConfigError(`${label}: not valid YAML: ${(error as Error).message.split('\n')[0]}`)
  }
  const parsed = WorkerConfigLayerSchema.safeParse(raw)
  if (!parsed.success) throw new ConfigError(describeIssues(parsed.error, label))
  const layer = { ...parsed.data, test_hooks: enabledByDefault(parsed.data.test_hooks) }
  if (layer.test_hooks === undefined) delete layer.test_hooks
  // Paths in the file are relative to the file, so a config and its models can move together.
  const base = dirname(file)
  if (layer.models_dir) layer.models_dir = resolve(base, layer.models_dir)
  if (layer.cache_dir) layer.cache_dir = resolve(base, layer.cache_dir)
  return layer
}

/** Builds a layer from `[source, key, text]` entries, validating each so the error names its variable or flag. */
function layerFromStrings(entries: readonly (readonly [string, string, string | undefined])[], cwd: string) {
  const layer: Record<string, unknown> = {}
  const errors: string[] = []
  for (const [source, key, text] of entries) {
    if (text === undefined) continue
    const value = coerce(key, text)
    const [head, leaf] = key.split('.') as [string, string | undefined]
    const single = leaf !== undefined ? { [head]: { [leaf]: value } } : { [key]: value }
    const parsed = WorkerConfigLayerSchema.safeParse(single)
    if (!parsed.success) {
      errors.push(`${source}: ${parsed.error.issues.map((i) => i.message).join(', ')}`)
      continue
    }
    const { test_hooks, ...rest } = parsed.data
    Object.assign(layer, rest)
    // Two variables may set test_hooks (the switch and the load delay): merged, not replaced.
    const hooks = mergeTestHooks(layer.test_hooks as WorkerConfigLayer['test_hooks'], test_hooks)
    if (hooks !== undefined) layer.test_hooks = hooks
  }
  if (errors.length > 0) throw new ConfigError(errors.join('; '))
  if (typeof layer.models_dir === 'string') layer.models_dir = resolve(cwd, layer.models_dir)
  if (typeof layer.cache_dir === 'string') layer.cache_dir = resolve(cwd, layer.cache_dir)
  return layer as WorkerConfigLayer
}

function coerce(key: string, text: string): unknown {
  if (NUMERIC_KEYS.has(key)) return /^-?\d+$/.test(text.trim()) ? Number(text.trim()) : text
  if (key === 'test_hooks') {
    const lower = text.trim().toLowerCase()
    if (['1', 'true', 'yes', 'on'].includes(lower)) return true
    if (['0', 'false', 'no', 'off', ''].includes(lower)) return false
    // A JSON mapping sets the hooks' settings (and turns them on, as in YAML).
    if (lower.startsWith('{')) {
      try {
        return enabledByDefault(JSON.parse(text))
      } catch {
        return text
      }
    }
    return text
  }
  // An empty token or models dir means "not set" (the default), the usual convention for env files.
  if ((key === 'auth_token' || key === 'models_dir') && text === '') return null
  return text
}

function mergeLayers(layers: readonly WorkerConfigLayer[]): WorkerConfigLayer {
  const merged: WorkerConfigLayer = {}
  for (const layer of layers) {
    const { queue, test_hooks, ...rest } = layer
    Object.assign(merged, rest)
    if (queue) merged.queue = { ...merged.queue, ...queue }
    const hooks = mergeTestHooks(merged.test_hooks, test_hooks)
    if (hooks !== undefined) merged.test_hooks = hooks
  }
  return merged
}

/** The protocol's issue lines, except that unknown keys are named by their full path (`queue.foo: unknown key`). */
function describeIssues(error: z.ZodError, source: string): string {
  return error.issues
    .map((issue) => {
      if (issue.code === 'unrecognized_keys') {
        const path = issuePath(issue.path)
        const prefix = path ? `${path}.` : ''
        return `${source}: ${issue.keys.map((k) => `${prefix}${k}`).join(', ')}: unknown key`
      }
      return issueLine(issue, { source })
    })
    .join('; ')
}
