import { readFile } from 'node:fs/promises'
import { parseAllDocuments } from 'yaml'
import { type PoolConfig, PoolConfigError, parsePoolConfig, parseWorkerUrl } from './pool-config.js'

/** Where the pool looks for its config when given no path (relative to the working directory). */
export const DEFAULT_CONFIG_PATH = 'config/npu_workers.yaml'
/** The worker used when the config file is missing and `NPU_WORKER_URL` is not set. */
export const DEFAULT_WORKER_URL = 'http://127.0.0.1:8081'
/** Id of the single worker built from `NPU_WORKER_URL`. */
export const ENV_WORKER_ID = 'default'

/** Options of {@link loadPoolConfig}. */
export interface LoadPoolConfigOptions {
  /** Environment for `NPU_WORKER_URL` and `NPU_WORKER_TOKEN`. Default: `process.env`. */
  env?: NodeJS.ProcessEnv
}

/**
 * Reads and validates the pool's config file (`config/npu_workers.yaml`, either YAML form). A missing file is not an error: the pool
 * then runs one worker from `NPU_WORKER_URL` (default `http://127.0.0.1:8081`) and says so in `warnings`.
 * Anything else wrong (unreadable file, YAML syntax, schema) throws {@link PoolConfigError}.
 */
export async function loadPoolConfig(
  path: string = DEFAULT_CONFIG_PATH,
  options: LoadPoolConfigOptions = {},
): Promise<PoolConfig> {
  const env = options.env ?? process.env
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOENT') return envFallbackConfig(path, env)
    throw new PoolConfigError(path, [`cannot read: ${code ?? (error as Error).message}`])
  }
  const documents = parseAllDocuments(text, { prettyErrors: true })
  if (!Array.isArray(documents)) return parsePoolConfig(null, { where: path })
  if (documents.length !== 1) {
    throw new PoolConfigError(path, [
      documents.length === 0 ? 'the file is empty' : `holds ${documents.length} YAML documents; use one`,
    ])
  }
  const [document] = documents as [(typeof documents)[number]]
  if (document.errors.length > 0) {
    throw new PoolConfigError(path, [
      `invalid YAML: ${document.errors[0]?.message.split('\n')[0] ?? 'syntax error'}`,
    ])
  }
  const value: unknown = document.toJS({ maxAliasCount: 100 })
  if (value === null || value === undefined) throw new PoolConfigError(path, ['the file is empty'])
  return parsePoolConfig(value, { where: path, source: { kind: 'file', path }, env })
}

/** One worker from `NPU_WORKER_URL` (default {@link DEFAULT_WORKER_URL}), with every other setting at its default. */
export function envFallbackConfig(
  missingPath: string | null,
  env: NodeJS.ProcessEnv = process.env,
): PoolConfig {
  const raw =
    env.NPU_WORKER_URL === undefined || env.NPU_WORKER_URL === '' ? DEFAULT_WORKER_URL : env.NPU_WORKER_URL
  const target = parseWorkerUrl(raw)
  if (typeof target === 'string') throw new PoolConfigError('NPU_WORKER_URL', [target])
  const config = parsePoolConfig(
    { workers: [{ id: ENV_WORKER_ID, url: target.url, enabled: true }] },
    { where: 'NPU_WORKER_URL', source: { kind: 'env', variable: 'NPU_WORKER_URL', missingPath }, env },
  )
  const from = env.NPU_WORKER_URL
    ? `NPU_WORKER_URL=${target.url}`
    : `the default ${target.url} (NPU_WORKER_URL unset)`
  config.warnings.push(
    missingPath === null
      ? `no config file given; using one worker from ${from}`
      : `config file ${missingPath} not found; using one worker from ${from}`,
  )
  return config
}
