import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  bearerTokenChecker,
  ErrorBodySchema,
  PoolReloadResponseSchema,
  PoolStatsResponseSchema,
  PoolWorkersResponseSchema,
} from '@npu-fleet/protocol'
import Fastify, { type FastifyInstance } from 'fastify'
import { request } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { npuPoolAdmin } from '../../src/admin/admin-plugin.js'
import { NpuWorkerPool } from '../../src/pool.js'
import { captureLogger, type MlpFleet, mlpRequest, startMlpFleet } from '../helpers/fleet.js'

// The admin plugin over real HTTP: a Fastify server on a loopback port, a pool over real workers (one of them
// requiring its own bearer token, which the pool sends and the admin routes never show).

const ADMIN_TOKEN = 'admin-token-0123456789abcdef'
const WORKER_TOKEN = 'worker-secret-token-0123456789'
let fleet: MlpFleet
let pool: NpuWorkerPool
let app: FastifyInstance
let base: string
const dir = mkdtempSync(join(tmpdir(), 'npu-pool-admin-'))
const configPath = join(dir, 'npu_workers.yaml')

beforeAll(async () => {
  fleet = await startMlpFleet(2, {
    envFor: (i): Record<string, string> => (i === 1 ? { NPU_WORKER_TOKEN: WORKER_TOKEN } : {}),
  })
  writeFileSync(
    configPath,
    `workers:
  - { id: open, url: "${fleet.workers[0]!.url}", priority: 5, enabled: true }
  - { id: guarded, url: "${fleet.workers[1]!.url}", priority: 9, enabled: true, auth_token: "${WORKER_TOKEN}" }
`,
  )
  pool = new NpuWorkerPool({ configPath, logger: captureLogger() })
  await pool.initialize()
  app = Fastify()
  await app.register(npuPoolAdmin, { pool, token: ADMIN_TOKEN })
  app.get('/public', async () => ({ ok: true }))
  base = await app.listen({ host: '127.0.0.1', port: 0 })
})
afterAll(async () => {
  await app?.close()
  await pool?.close()
  await fleet?.stop()
  rmSync(dir, { recursive: true, force: true })
})

async function call(method: 'GET' | 'POST', path: string, authorization?: string) {
  const res = await request(`${base}${path}`, {
    method,
    headers: authorization === undefined ? {} : { authorization },
  })
  const text = await res.body.text()
  return { status: res.statusCode, headers: res.headers, text, json: JSON.parse(text) as unknown }
}
const bearer = `Bearer ${ADMIN_TOKEN}`

describe('npuPoolAdmin', () => {
  it('answers 401 with WWW-Authenticate and a POOL_ERR code without the right token, on every route', async () => {
    for (const [method, path] of [
      ['GET', '/api/npu/pool/stats'],
      ['GET', '/api/npu/pool/workers'],
      ['POST', '/api/npu/pool/reload'],
    ] as const) {
      for (const authorization of [
        undefined,
        '',
        'Bearer',
        `Basic ${Buffer.from(`x:${ADMIN_TOKEN}`).toString('base64')}`,
        `Bearer ${ADMIN_TOKEN}x`,
        `Bearer ${ADMIN_TOKEN.slice(0, -1)}`,
        `Bearer ${ADMIN_TOKEN} extra`,
      ]) {
        const res = await call(method, path, authorization)
        expect(res.status, `${method} ${path} with ${authorization}`).toBe(401)
        expect(res.headers['www-authenticate']).toBe('Bearer realm="npu-pool-admin"')
        expect(ErrorBodySchema.parse(res.json).code).toBe('POOL_ERR_UNAUTHORIZED')
      }
    }
    // The plugin's hook guards only its own routes.
    expect((await call('GET', '/public')).status).toBe(200)
  })

  it('sends the worker token so the guarded worker serves, and reports stats in the seeds shape', async () => {
    for (let i = 0; i < 3; i++)
      expect(await pool.infer('mlp', mlpRequest(1, i))).toMatchObject({ workerId: 'guarded' })
    const res = await call('GET', '/api/npu/pool/stats', bearer)
    expect(res.status).toBe(200)
    expect(res.headers['cache-control']).toBe('no-store')
    expect(res.json).toEqual({
      total_workers: 2,
      healthy_workers: 2,
      total_tasks_processed: 3,
      active_tasks: 0,
      success_rate: 1,
    })
    expect(PoolStatsResponseSchema.strict().parse(res.json)).toBeTruthy()
  })

  it('lists workers in the seeds shape (plus richer fields under new names), and never shows a token', async () => {
    const before = Date.now() / 1000
    await pool.checkHealth()
    const res = await call('GET', '/api/npu/pool/workers', `bearer   ${ADMIN_TOKEN}`)
    expect(res.status).toBe(200)
    const body = PoolWorkersResponseSchema.parse(res.json)
    expect(Object.keys(body.workers[0] ?? {}).sort()).toEqual(
      [
        'active_tasks',
        'circuit_state',
        'enabled',
        'failures',
        'healthy',
        'id',
        'last_health_check',
        'priority',
        'total_requests',
        'url',
        // Richer fields, not the seeds':
        'health_status',
        'last_health_error',
        'max_concurrent_tasks',
        'protocol_version',
      ].sort(),
    )
    expect(body.workers.map((w) => [w.id, w.url, w.priority, w.healthy, w.circuit_state])).toEqual([
      ['open', fleet.workers[0]!.url, 5, true, 'closed'],
      ['guarded', fleet.workers[1]!.url, 9, true, 'closed'],
    ])
    expect(body.workers[1]?.total_requests).toBeGreaterThanOrEqual(3)
    // Unix seconds, as the seeds wrote it (1738713245.32), taken by the round just run.
    const checked = body.workers[0]?.last_health_check as number
    expect(checked).toBeGreaterThanOrEqual(Math.floor(before))
    expect(checked).toBeLessThanOrEqual(Date.now() / 1000 + 1)
    expect(body.workers.map((w) => [w.health_status, w.last_health_error, w.protocol_version])).toEqual([
      ['degraded', null, 1],
      ['degraded', null, 1],
    ])
    for (const path of ['/api/npu/pool/workers', '/api/npu/pool/stats']) {
      const text = (await call('GET', path, bearer)).text
      expect(text).not.toContain(WORKER_TOKEN)
      expect(text).not.toContain(ADMIN_TOKEN)
    }
  })

  it('reloads the config file: 200 on success, 422 with the reason when the new file is invalid', async () => {
    const ok = await call('POST', '/api/npu/pool/reload', bearer)
    expect(ok.status).toBe(200)
    expect(PoolReloadResponseSchema.strict().parse(ok.json)).toEqual({
      success: true,
      workers_loaded: 2,
      message: 'reloaded 2 workers: 0 added, 0 removed, 0 updated, 2 unchanged',
    })
    writeFileSync(
      configPath,
      'workers:\n  - { id: x, url: "http://127.0.0.1:1", enabled: true, priority: 0 }\n',
    )
    const bad = await call('POST', '/api/npu/pool/reload', bearer)
    expect(bad.status).toBe(422)
    expect(bad.json).toEqual({
      success: false,
      workers_loaded: 2,
      message: `${configPath}: workers[0].priority: must be between 1 and 10`,
    })
    expect((await call('GET', '/api/npu/pool/stats', bearer)).json).toMatchObject({ total_workers: 2 })
  })

  it('refuses to register without a strong token or a pool', async () => {
    for (const options of [{ pool, token: 'short' }, { pool }, { token: ADMIN_TOKEN }]) {
      const bad = Fastify()
      await expect(bad.register(npuPoolAdmin, options as never).ready()).rejects.toMatchObject({
        code: 'POOL_ERR_BAD_ARGUMENT',
      })
      await bad.close()
    }
  })

  it('a pool with the wrong worker token gets a 401 refusal, not retried and not held against the worker', async () => {
    const wrong = new NpuWorkerPool({
      config: {
        workers: [
          { id: 'guarded', url: fleet.workers[1]!.url, enabled: true, auth_token: 'wrong-token-0123456789' },
        ],
      },
      logger: captureLogger(),
    })
    await wrong.initialize()
    expect(await wrong.infer('mlp', mlpRequest())).toMatchObject({
      success: false,
      code: 'POOL_ERR_WORKER_REJECTED',
      attempts: 1,
      details: { status: 401, workerCode: 'NPU_ERR_UNAUTHORIZED' },
    })
    expect(wrong.getWorkers()[0]).toMatchObject({ failures: 0, circuitState: 'closed' })
    await wrong.close()
  })
})

describe('bearerTokenChecker', () => {
  it('accepts only the exact token after a Bearer scheme (case-insensitive scheme)', () => {
    const check = bearerTokenChecker('t0k3n-0123456789abcdef')
    expect(check('Bearer t0k3n-0123456789abcdef')).toBe(true)
    expect(check('BEARER t0k3n-0123456789abcdef ')).toBe(true)
    expect(check('Bearer t0k3n-0123456789abcdeF')).toBe(false)
    expect(check('t0k3n-0123456789abcdef')).toBe(false)
    expect(check(undefined)).toBe(false)
  })
})
