import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { promtool } from '../../apps/npu-worker/test/helpers/promtool.js'

// The alert rules, as CI checks them: `promtool check rules` (syntax, PromQL, templates) and
// `promtool test rules` (the unit tests under prometheus/tests/, series written by hand). On top: every alert
// carries a severity, a summary and a description, is expected to fire by at least one unit test, and is
// documented in the README.

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const PROMETHEUS_DIR = join(ROOT, 'prometheus')
const RULES = join(PROMETHEUS_DIR, 'npu-fleet-alerts.yml')
const TESTS_DIR = join(PROMETHEUS_DIR, 'tests')
const testFiles = readdirSync(TESTS_DIR)
  .filter((f) => f.endsWith('.test.yml'))
  .map((f) => join(TESTS_DIR, f))

interface AlertRule {
  alert: string
  expr: string
  for?: string
  labels?: Record<string, string>
  annotations?: Record<string, string>
}
const rules = (parse(readFileSync(RULES, 'utf8')) as { groups: { name: string; rules: AlertRule[] }[] })
  .groups
const alerts = rules.flatMap((g) => g.rules)

describe('alert rules', () => {
  it('pass promtool check rules', async () => {
    const run = await promtool(['check', 'rules', RULES])
    expect(run.output).toContain(`SUCCESS: ${alerts.length} rules found`)
    expect(run.code).toBe(0)
  })

  it('pass their unit tests under promtool test rules', async () => {
    expect(testFiles.length).toBeGreaterThanOrEqual(2)
    const run = await promtool(['test', 'rules', ...testFiles])
    expect(run.output).not.toContain('FAILED')
    expect(run.code).toBe(0)
  })

  it('cover what the issue asks: down or not scraped, degraded, drift, saturation, p99, circuit open, no healthy worker', () => {
    const names = alerts.map((a) => a.alert)
    for (const name of [
      'NpuWorkerDown',
      'NpuWorkerNotScraped',
      'NpuWorkerDegraded',
      'NpuModelOutputDrift',
      'NpuWorkerQueueSaturated',
      'NpuWorkerP99LatencyHigh',
      'NpuPoolCircuitOpen',
      'NpuPoolNoHealthyWorker',
    ])
      expect(names).toContain(name)
  })

  it('each carry a severity, a summary and a description, and each is made to fire by a unit test', () => {
    const tested = testFiles.map((f) => readFileSync(f, 'utf8')).join('\n')
    for (const rule of alerts) {
      expect(['critical', 'warning'], rule.alert).toContain(rule.labels?.severity)
      expect(rule.annotations?.summary, rule.alert).toBeTruthy()
      expect(rule.annotations?.description, rule.alert).toBeTruthy()
      // An alert with no firing expectation is an alert nobody has seen fire.
      expect(tested, `${rule.alert} has no firing expectation`).toMatch(
        new RegExp(`alertname: ${rule.alert}\\n\\s+exp_alerts:\\n\\s+- exp_labels`),
      )
    }
  })

  it('are each documented in the README', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
    for (const rule of alerts) expect(readme, rule.alert).toContain(`\`${rule.alert}\``)
  })
})
