import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse, stringify } from 'yaml'

/** monitoring/prometheus: the rules, their unit tests and the example config. */
export const PROMETHEUS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'prometheus')
/** The alert rules file. */
export const RULES_FILE = join(PROMETHEUS_DIR, 'npu-fleet-alerts.yml')
/** Where the example config expects the files the Ansible role writes. */
export const EXAMPLE_DIR = '/etc/prometheus/npu-fleet'

/** Options of {@link exampleConfig}. */
export interface ExampleConfigOptions {
  /** Replaces {@link EXAMPLE_DIR} in every path (the folder the role, or the test, wrote the files into). */
  dir: string
  /** Scrape and evaluation interval (also every job's scrape timeout), e.g. `1s`; default: the example's. */
  interval?: string
}

/**
 * monitoring/prometheus/prometheus.example.yml as an operator would use it, with its files under `dir` instead
 * of /etc/prometheus/npu-fleet: the jobs, paths and auth exactly as shipped, only the folder (and, for a test
 * that cannot wait 15 s per scrape, the intervals) changed.
 */
export function exampleConfig(options: ExampleConfigOptions): string {
  const text = readFileSync(join(PROMETHEUS_DIR, 'prometheus.example.yml'), 'utf8').replaceAll(
    EXAMPLE_DIR,
    options.dir,
  )
  if (!options.interval) return text
  const config = parse(text) as {
    global: Record<string, string>
    scrape_configs: Array<Record<string, unknown>>
  }
  config.global.scrape_interval = options.interval
  config.global.evaluation_interval = options.interval
  for (const job of config.scrape_configs) job.scrape_timeout = options.interval
  return stringify(config)
}

/** One file_sd entry. */
export interface TargetGroup {
  targets: string[]
  labels: Record<string, string>
}

/**
 * Writes what the Ansible role would write into `dir` (the rules, the targets files, the pool admin token) for
 * targets the test started itself, and the example config over them; returns the config's path.
 */
export function writeFleetFiles(
  dir: string,
  fleet: { workers: TargetGroup[]; pools: TargetGroup[]; poolAdminToken: string; interval?: string },
): string {
  mkdirSync(join(dir, 'targets'), { recursive: true })
  copyFileSync(RULES_FILE, join(dir, 'npu-fleet-alerts.yml'))
  writeFileSync(join(dir, 'targets', 'npu-workers.yml'), stringify(fleet.workers))
  writeFileSync(join(dir, 'targets', 'npu-pools.yml'), stringify(fleet.pools))
  writeFileSync(join(dir, 'pool-admin-token'), fleet.poolAdminToken, { mode: 0o600 })
  const configPath = join(dir, 'prometheus.yml')
  writeFileSync(configPath, exampleConfig({ dir, ...(fleet.interval ? { interval: fleet.interval } : {}) }))
  return configPath
}
