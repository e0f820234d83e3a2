import Fastify, { type FastifyInstance } from 'fastify'
import { Counter, Registry } from 'prom-client'
import { request } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { promtool } from '../../../../apps/npu-worker/test/helpers/promtool.js'
import { npuPoolAdmin } from '../../src/admin/admin-plugin.js'
import { NpuWorkerPool } from '../../src/pool.js'
import { captureLogger, type MlpFleet, mlpRequest, startMlpFleet, workerEntry } from '../helpers/fleet.js'
import { type Peer, startPeer } from '../helpers/peers.js'

// The pool's Prometheus metrics against real processes: two real workers, a peer that answers 500 (its circuit
// opens), a peer of an older protocol (refused). The exposition is read through the admin route over real
// HTTP, checked series by series, and by promtool (Debian's prometheus package, scripts/install-system-deps.sh).

const ADMIN_TOKEN = 'admin-token-0123456789abcdef'
let fleet: MlpFleet
let broken: Peer
let old: Peer
let pool: NpuWorkerPool
let app: FastifyInstance
let base: string
const registry = new Registry()

beforeAll(async () => {
  ;[fleet, broken, old] = await Promise.all([
    startMlpFleet(2),
    startPeer('server-error'),
    startPeer('old-protocol'),
  ])
  // The backend's own registry, with a metric of its own: the pool's go in beside it.
  new Counter({ name: 'backend_requests_total', help: 'The backend itself.', registers: [registry] }).inc()
  pool = new NpuWorkerPool({
    config: {
      workers: [
        workerEntry('broken', broken.url, { priority: 10, max_concurrent_tasks: 1 }),
        workerEntry('old', old.url, { priority: 10 }),
        workerEntry('a', fleet.workers[0]!.url, { priority: 5, max_concurrent_tasks: 1 }),
        workerEntry('b', fleet.workers[1]!.url, { priority: 5, max_concurrent_tasks: 1 }),
      ],
      load_balancing: { failure_threshold: 1, retry_cooldown_seconds: 600, health_check_interval: 0 },
    },
    logger: captureLogger(),
    registry,
  })
  await pool.initialize()
  // The first goes to `broken` (500, its circuit opens), then is retried; six at once over two slots wait.
  const results = await Promise.all(Array.from({ length: 6 }, (_, i) => pool.infer('mlp', mlpRequest(1, i))))
  expect(results.every((r) => r.success)).toBe(true)
  app = Fastify()
  await app.register(npuPoolAdmin, { pool, token: ADMIN_TOKEN })
  base = await app.listen({ host: '127.0.0.1', port: 0 })
})
afterAll(async () => {
  await app?.close()
  await pool?.close()
  await Promise.all([fleet?.stop(), broken?.stop(), old?.stop()])
})

async function scrape() {
  const res = await request(`${base}/api/npu/pool/metrics`, {
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
  })
  return { status: res.statusCode, type: res.headers['content-type'], text: await res.body.text() }
}

/** The value of one series (`name{labels}`), or undefined. */
function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

describe('pool metrics', () => {
  it('serves the Prometheus text behind the admin token, in the registry the backend passed', async () => {
    const denied = await request(`${base}/api/npu/pool/metrics`)
    expect(denied.statusCode).toBe(401)
    await denied.body.dump()
    const { status, type, text } = await scrape()
    expect(status).toBe(200)
    expect(type).toBe('text/plain; version=0.0.4; charset=utf-8')
    expect(value(text, 'backend_requests_total')).toBe(1)
    expect(text).toContain('# TYPE npu_pool_worker_requests_total counter')
    expect(await registry.metrics()).toContain('npu_pool_worker_requests_total')
  })

  it('counts per worker what getWorkers() counts: requests, failures by reason and code, circuit and health state', async () => {
    const { text } = await scrape()
    const workers = pool.getWorkers()
    for (const w of workers) {
      expect(value(text, `npu_pool_worker_requests_total{worker="${w.id}"}`)).toBe(w.totalRequests)
      expect(value(text, `npu_pool_worker_successes_total{worker="${w.id}"}`)).toBe(w.successes)
      expect(value(text, `npu_pool_worker_active_tasks{worker="${w.id}"}`)).toBe(0)
    }
    expect(
      value(
        text,
        'npu_pool_worker_failed_attempts_total{worker="broken",reason="server_error",code="NPU_ERR_INFERENCE_FAILED"}',
      ),
    ).toBe(1)
    expect(value(text, 'npu_pool_worker_circuit_state{worker="broken",state="open"}')).toBe(1)
    expect(value(text, 'npu_pool_worker_circuit_state{worker="broken",state="closed"}')).toBe(0)
    expect(value(text, 'npu_pool_worker_circuit_state{worker="a",state="closed"}')).toBe(1)
    expect(value(text, 'npu_pool_worker_health_state{worker="old",state="refused"}')).toBe(1)
    expect(value(text, 'npu_pool_worker_health_state{worker="a",state="degraded"}')).toBe(1)
    expect(value(text, 'npu_pool_worker_max_concurrent_tasks{worker="a"}')).toBe(1)
  })

  it('has latency histograms per worker, queue waits per model, tasks, retries and budget denials', async () => {
    const { text } = await scrape()
    const a = pool.getWorkers().find((w) => w.id === 'a')!
    expect(value(text, 'npu_pool_worker_request_duration_seconds_count{worker="a"}')).toBe(a.successes)
    expect(value(text, 'npu_pool_worker_request_duration_seconds_bucket{worker="a",le="+Inf"}')).toBe(
      a.successes,
    )
    expect(value(text, 'npu_pool_worker_request_duration_seconds_sum{worker="a"}')).toBeGreaterThan(0)
    // Every attempt waited (0 or more) for a slot: 6 tasks + 1 retry; with two slots, some waited for real.
    expect(value(text, 'npu_pool_queue_wait_seconds_count{need="model:mlp"}')).toBe(7)
    expect(value(text, 'npu_pool_queue_wait_seconds_sum{need="model:mlp"}')).toBeGreaterThan(0)
    expect(value(text, 'npu_pool_tasks_started_total')).toBe(6)
    expect(value(text, 'npu_pool_tasks_succeeded_total')).toBe(6)
    expect(value(text, 'npu_pool_retries_total')).toBe(1)
    expect(value(text, 'npu_pool_retry_budget_denials_total')).toBe(0)
    expect(value(text, 'npu_pool_queued_tasks')).toBe(0)
  })

  it('is clean under promtool check metrics', async () => {
    const { text } = await scrape()
    const run = await promtool(['check', 'metrics'], text)
    expect(run.output.trim()).toBe('')
    expect(run.code).toBe(0)
  })
})
