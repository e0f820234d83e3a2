import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { stringify } from 'yaml'
import {
  makeMlpModelRepository,
  startWorker,
  type TempModelRepository,
  type WorkerProcess,
} from '../../apps/npu-worker/test/helpers/worker-process.js'
import { writeFleetFiles } from './helpers/example-config.js'
import { startBackend, startPrometheus, type TestProcess } from './helpers/processes.js'

// Proof with a real Prometheus (issue 13): Debian's server on a loopback port with its own tsdb, running the
// example prometheus.yml and the shipped alert rules unchanged except for 1 s intervals, scrapes two real
// workers (GET /metrics) and a real pool (the example backend, GET /api/npu/pool/metrics with the admin token).
// One worker is killed with SIGKILL: NpuWorkerDown goes pending and then, after its `for: 1m`, fires, for
// that worker only; the pool's own view (NpuPoolWorkerDown) follows. Everything stays on 127.0.0.1.

const ADMIN_TOKEN = 'monitoring-admin-token-0123456789'
const dir = mkdtempSync(join(tmpdir(), 'npu-fleet-prometheus-'))
let repo: TempModelRepository
let workers: WorkerProcess[] = []
let backend: TestProcess
let prometheus: TestProcess

interface PromAlert {
  labels: Record<string, string>
  state: 'pending' | 'firing'
  value: string
}

async function api<T>(path: string): Promise<T> {
  const res = await fetch(`${prometheus.url}${path}`)
  const body = (await res.json()) as { status: string; data: T }
  expect(body.status).toBe('success')
  return body.data
}

const query = (expr: string) =>
  api<{ result: Array<{ metric: Record<string, string>; value: [number, string] }> }>(
    `/api/v1/query?query=${encodeURIComponent(expr)}`,
  ).then((d) => d.result)
const alerts = () => api<{ alerts: PromAlert[] }>('/api/v1/alerts').then((d) => d.alerts)

/** Polls `check` until it returns non-null (state decides; the deadline only bounds a failure). */
async function until<T>(what: string, check: () => Promise<T | null>, timeoutMs: number): Promise<T> {
  const end = Date.now() + timeoutMs
  while (Date.now() < end) {
    const value = await check()
    if (value !== null) return value
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
  throw new Error(`timed out waiting for ${what}\n--- prometheus ---\n${prometheus.logs()}`)
}

beforeAll(async () => {
  repo = makeMlpModelRepository()
  workers = await Promise.all([0, 1].map(() => startWorker({ modelsDir: repo.dir, waitFor: 'ready' })))
  const poolConfig = join(dir, 'npu_workers.yaml')
  writeFileSync(
    poolConfig,
    stringify({
      workers: workers.map((w, i) => ({ id: `worker-${i}`, url: w.url, enabled: true })),
      load_balancing: { health_check_interval: 1, unhealthy_threshold: 1 },
    }),
  )
  backend = await startBackend(poolConfig, ADMIN_TOKEN)
  const configPath = writeFleetFiles(join(dir, 'etc'), {
    // What the Ansible role writes from the inventory: one target per worker, labelled with its pool id.
    workers: workers.map((w, i) => ({ targets: [new URL(w.url).host], labels: { worker: `worker-${i}` } })),
    pools: [{ targets: [new URL(backend.url).host], labels: { backend: 'example-backend' } }],
    poolAdminToken: ADMIN_TOKEN,
    interval: '1s',
  })
  prometheus = await startPrometheus(configPath, join(dir, 'tsdb'))
})

afterAll(async () => {
  await prometheus?.stop('SIGTERM')
  await backend?.stop('SIGTERM')
  await Promise.all(workers.map((w) => w.stop('SIGKILL')))
  repo?.cleanup()
  rmSync(dir, { recursive: true, force: true })
})

describe('a real Prometheus with the shipped rules', () => {
  it('scrapes both workers and the pool (with the admin token) and reads their metrics', async () => {
    const up = await until(
      'three targets up',
      async () => {
        const result = await query('up == 1')
        return result.length === 3 ? result : null
      },
      60_000,
    )
    expect(up.map((r) => `${r.metric.job}/${r.metric.worker ?? r.metric.backend}`).sort()).toEqual([
      'npu-pool/example-backend',
      'npu-worker/worker-0',
      'npu-worker/worker-1',
    ])
    // The worker's own truth (CPU only here: degraded) and the pool's view of the same workers.
    const status = await query('npu_worker_health_status{status="degraded"} == 1')
    expect(status).toHaveLength(2)
    const seen = await until(
      'the pool seeing both workers up',
      async () => {
        const r = await query('npu_pool_worker_health_state{state=~"healthy|degraded"} == 1')
        return r.length === 2 ? r : null
      },
      30_000,
    )
    expect(seen.map((r) => r.metric.worker).sort()).toEqual(['worker-0', 'worker-1'])
    expect(await alerts()).not.toContainEqual(
      expect.objectContaining({ labels: expect.objectContaining({ alertname: 'NpuWorkerDown' }) }),
    )
  })

  it('fires NpuWorkerDown for the worker killed, after its minute pending, and for no other', async () => {
    const killed = workers[0] as WorkerProcess
    const instance = new URL(killed.url).host
    await killed.stop('SIGKILL')
    const states = new Set<string>()
    const firing = await until(
      'NpuWorkerDown firing',
      async () => {
        const all = await alerts()
        const down = all.filter((a) => a.labels.alertname === 'NpuWorkerDown')
        // Only the killed worker is ever down.
        for (const a of down) expect(a.labels.instance).toBe(instance)
        for (const a of down) states.add(a.state)
        return down.find((a) => a.state === 'firing') ?? null
      },
      // `for: 1m` after the first failed scrape, plus scrape and evaluation intervals: generous on a busy machine.
      180_000,
    )
    expect(states.has('pending')).toBe(true)
    expect(firing.labels).toMatchObject({
      alertname: 'NpuWorkerDown',
      severity: 'critical',
      job: 'npu-worker',
      worker: 'worker-0',
      instance,
    })
    // The pool's side: it saw the worker go down (its own health checks), so its alert is on the way.
    const poolView = (await alerts()).find(
      (a) => a.labels.alertname === 'NpuPoolWorkerDown' && a.labels.worker === 'worker-0',
    )
    expect(poolView?.state).toMatch(/pending|firing/)
    expect((await query('up{job="npu-worker"} == 1')).map((r) => r.metric.worker)).toEqual(['worker-1'])
  }, 240_000)
})
