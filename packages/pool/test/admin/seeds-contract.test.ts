import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import Fastify, { type FastifyInstance } from 'fastify'
import { request } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { npuPoolAdmin } from '../../src/admin/admin-plugin.js'
import { CircuitState } from '../../src/breaker/circuit-breaker.js'
import { NpuWorkerPool } from '../../src/pool.js'
import { captureLogger, type MlpFleet, mlpRequest, startMlpFleet, workerEntry } from '../helpers/fleet.js'
import { type Peer, startPeer } from '../helpers/peers.js'

// The admin JSON against the seeds' own documents (issue 12): every key the seeds' example has is there, with
// the same JSON value type (integers stay integers), `circuit_state` takes the old enum's lower-case values,
// and `last_health_check` is Unix seconds. Served over real HTTP by a pool over a real worker and a peer
// whose circuit is open, so both circuit values come from real state.

const examples = JSON.parse(
  readFileSync(
    join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'seeds-admin-examples.json'),
    'utf8',
  ),
) as Record<'stats' | 'workers' | 'reload', Record<string, unknown>> & { circuit_states: string[] }
const TOKEN = 'admin-token-0123456789abcdef'
let fleet: MlpFleet
let broken: Peer
let pool: NpuWorkerPool
let app: FastifyInstance
let base: string

beforeAll(async () => {
  ;[fleet, broken] = await Promise.all([startMlpFleet(1), startPeer('server-error')])
  pool = new NpuWorkerPool({
    config: {
      workers: [
        workerEntry('broken', broken.url, { priority: 10 }),
        workerEntry('real', fleet.workers[0]!.url),
      ],
      load_balancing: { failure_threshold: 1, retry_cooldown_seconds: 600, health_check_interval: 0 },
    },
    logger: captureLogger(),
  })
  await pool.initialize()
  // One 500 opens the broken peer's circuit; the retry lands on the real worker.
  expect(await pool.infer('mlp', mlpRequest())).toMatchObject({
    success: true,
    workerId: 'real',
    attempts: 2,
  })
  app = Fastify()
  await app.register(npuPoolAdmin, { pool, token: TOKEN })
  base = await app.listen({ host: '127.0.0.1', port: 0 })
})
afterAll(async () => {
  await app?.close()
  await pool?.close()
  await Promise.all([fleet?.stop(), broken?.stop()])
})

async function get(method: 'GET' | 'POST', path: string): Promise<Record<string, unknown>> {
  const res = await request(`${base}${path}`, { method, headers: { authorization: `Bearer ${TOKEN}` } })
  expect(res.statusCode).toBe(200)
  return (await res.body.json()) as Record<string, unknown>
}

/** The JSON type of a value, with integers told apart from other numbers. */
function jsonType(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'array'
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number'
  return typeof value
}

/** Every key of `seed` is in `ours` with a compatible value type (a seed float accepts any number). */
function expectSeedShape(ours: Record<string, unknown>, seed: Record<string, unknown>, where: string): void {
  for (const [key, seedValue] of Object.entries(seed)) {
    expect(Object.keys(ours), `${where}: key ${key}`).toContain(key)
    const want = jsonType(seedValue)
    const got = jsonType(ours[key])
    if (want === 'number') expect(['number', 'integer'], `${where}.${key}`).toContain(got)
    else expect(got, `${where}.${key}`).toBe(want)
  }
}

describe("admin JSON in the seeds' form", () => {
  it("exports CircuitState with the old enum's values (the seeds' own test pins CLOSED.value == 'closed')", () => {
    expect(CircuitState.CLOSED).toBe('closed')
    expect(Object.values(CircuitState).sort()).toEqual([...examples.circuit_states].sort())
  })

  it('GET /api/npu/pool/workers has every seed key with its type; circuit_state lower case; last_health_check Unix seconds', async () => {
    const before = Date.now() / 1000
    await pool.checkHealth()
    const body = await get('GET', '/api/npu/pool/workers')
    expectSeedShape(body, examples.workers, 'workers')
    const seedEntry = (examples.workers.workers as Record<string, unknown>[])[0] as Record<string, unknown>
    const entries = body.workers as Record<string, unknown>[]
    expect(entries).toHaveLength(2)
    for (const entry of entries) {
      expectSeedShape(entry, seedEntry, `workers[${String(entry.id)}]`)
      expect(examples.circuit_states).toContain(entry.circuit_state)
      const seconds = entry.last_health_check as number
      // Seconds, not milliseconds or an ISO string: within the round just run.
      expect(seconds).toBeGreaterThanOrEqual(Math.floor(before))
      expect(seconds).toBeLessThan(Date.now() / 1000 + 1)
    }
    expect(entries.map((e) => [e.id, e.circuit_state, e.healthy])).toEqual([
      ['broken', 'open', true],
      ['real', 'closed', true],
    ])
  })

  it('GET /api/npu/pool/stats and POST /api/npu/pool/reload have every seed key with its type', async () => {
    expectSeedShape(await get('GET', '/api/npu/pool/stats'), examples.stats, 'stats')
    // A pool built from a config object has no file to re-read: 422, in the same shape.
    const res = await request(`${base}/api/npu/pool/reload`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}` },
    })
    expect(res.statusCode).toBe(422)
    expectSeedShape((await res.body.json()) as Record<string, unknown>, examples.reload, 'reload')
  })
})
