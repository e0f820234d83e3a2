#!/usr/bin/env node
// A real @npu-fleet/pool (the built package) sending a steady stream of inferences to a fleet, for the deploy
// test's rolling upgrades. Usage:
//   node fleet-load.mjs --worker ID=URL [--worker ID=URL ...] --token TOKEN --request FILE --out FILE [--rate N]
// FILE (--request) is a release's share/selftest/mlp-infer.json: its request is sent, and every answer is held
// to its expected output (FP32 row: these workers serve on the CPU). Runs until SIGTERM or SIGINT, then lets
// the tasks in flight finish and writes a JSON summary to --out: tasks, failures by code, the pool's retries,
// and per worker the attempts it took and the versions it reported. Progress lines go to stdout.
import { readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const here = dirname(fileURLToPath(import.meta.url))
const { NpuWorkerPool } = await import(join(here, '../../packages/pool/dist/index.js'))

const { values } = parseArgs({
  options: {
    worker: { type: 'string', multiple: true },
    token: { type: 'string' },
    request: { type: 'string' },
    out: { type: 'string' },
    rate: { type: 'string', default: '40' },
  },
})
if (!values.worker?.length || !values.request || !values.out) {
  process.stderr.write(
    'usage: fleet-load.mjs --worker ID=URL... --token T --request FILE --out FILE [--rate N]\n',
  )
  process.exit(2)
}
const fixture = JSON.parse(readFileSync(values.request, 'utf8'))
const tolerance = fixture.tolerances?.FP32 ?? fixture.tolerance
const rate = Number(values.rate)
if (!Number.isFinite(rate) || rate <= 0) throw new Error(`--rate ${values.rate}: expected a positive number`)

/** The pool's log lines, kept for the summary (the failures' reasons), not printed. */
const poolLog = []
const keep = (level) => (obj, msg) => poolLog.push({ level, msg, ...obj })
const pool = new NpuWorkerPool({
  config: {
    workers: values.worker.map((spec) => {
      const [id, url] = spec.split(/=(.*)/s)
      return { id, url, enabled: true, priority: 5, max_concurrent_tasks: 8 }
    }),
    auth_token: values.token,
    // Health every half second, so a drained or restarted worker is seen within a second; a task may take
    // its full deadline (a worker restarting is never a reason to give up on the task).
    load_balancing: { health_check_interval: 0.5, health_check_timeout_seconds: 2, timeout_seconds: 10 },
  },
  logger: { debug() {}, info: keep('info'), warn: keep('warn'), error: keep('error') },
})
await pool.initialize()

const summary = {
  started: new Date().toISOString(),
  rate_per_s: rate,
  tasks: 0,
  succeeded: 0,
  failed: 0,
  wrong_answers: 0,
  failures_by_code: {},
  first_failures: [],
  by_worker: {},
  versions_seen: {},
}

/** True when `outputs` is the fixture's expected answer within the FP32 tolerance. */
function answerCorrect(outputs) {
  const out = outputs?.[0]
  const expected = fixture.expected
  if (!out || out.name !== expected.name || out.data?.length !== expected.data.length) return false
  return expected.data.every(
    (y, i) => Math.abs(out.data[i] - y) <= tolerance.atol + tolerance.rtol * Math.abs(y),
  )
}

const inFlight = new Set()
async function one() {
  summary.tasks++
  const r = await pool.infer(fixture.model, fixture.request, { timeoutMs: 30_000 })
  if (r.success && answerCorrect(r.result.outputs)) {
    summary.succeeded++
    summary.by_worker[r.workerId] ??= { succeeded: 0 }
    summary.by_worker[r.workerId].succeeded++
  } else {
    summary.failed++
    const code = r.success ? 'WRONG_ANSWER' : r.code
    if (r.success) summary.wrong_answers++
    summary.failures_by_code[code] = (summary.failures_by_code[code] ?? 0) + 1
    if (summary.first_failures.length < 10) {
      summary.first_failures.push({ at: new Date().toISOString(), code, error: r.error, details: r.details })
    }
  }
}

// A steady stream: one task every 1/rate s, whatever the answers take (an open loop, as a backend's traffic).
const interval = setInterval(() => {
  const task = one().finally(() => inFlight.delete(task))
  inFlight.add(task)
}, 1000 / rate)
const progress = setInterval(() => {
  for (const w of pool.getWorkers())
    if (w.version)
      summary.versions_seen[w.id] = [...new Set([...(summary.versions_seen[w.id] ?? []), w.version])]
  const s = pool.getStats()
  process.stdout.write(
    `${new Date().toISOString()} tasks=${summary.tasks} ok=${summary.succeeded} failed=${summary.failed} retries=${s.attempts.retries} healthy=${s.healthyWorkers}/${s.totalWorkers}\n`,
  )
}, 1000)

let stopping = false
async function stop() {
  if (stopping) return
  stopping = true
  clearInterval(interval)
  clearInterval(progress)
  await Promise.all(inFlight)
  const stats = pool.getStats()
  summary.finished = new Date().toISOString()
  summary.retries = stats.attempts.retries
  summary.retries_denied_by_budget = stats.attempts.retriesDeniedByBudget
  summary.attempts = stats.attempts.total
  summary.failed_attempts = stats.attempts.failed
  for (const w of pool.getWorkers()) {
    summary.by_worker[w.id] = {
      ...summary.by_worker[w.id],
      requests: w.totalRequests,
      failed_attempts: w.failures,
      rejected: w.rejected,
      version: w.version,
      health: w.healthStatus,
    }
  }
  summary.pool_warnings = poolLog.filter((line) => line.level !== 'info').slice(0, 20)
  await pool.close()
  writeFileSync(values.out, `${JSON.stringify(summary, null, 2)}\n`)
  process.exit(0)
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
