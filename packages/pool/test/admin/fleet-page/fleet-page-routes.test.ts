import { FleetViewSchema, FleetWorkerReportSchema } from '@npu-fleet/protocol'
import Fastify, { type FastifyInstance } from 'fastify'
import { Client, request } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { npuPoolAdmin } from '../../../src/admin/admin-plugin.js'
import { NpuWorkerPool } from '../../../src/pool.js'
import {
  captureLogger,
  FAKE_NPU_MLP_MANIFEST,
  fakeNpuHooks,
  type MlpFleet,
  mlpRequest,
  startMlpFleet,
  waitUntil,
  workerEntry,
} from '../../helpers/fleet.js'
import { type Peer, startPeer } from '../../helpers/peers.js'

// The fleet page's routes over real HTTP, without a browser: the login (token in a POSTed form, exchanged for
// an HttpOnly SameSite=Strict cookie scoped to the page), what answers 401, cross-site posts, the strict CSP,
// the live data and events, a worker's last /health, logout and expiry. The pool runs over real workers on
// the fake NPU (one of them drifting) and a peer that answers 500 (its circuit opens), so every kind of
// attention the page shows comes from real state. fleet-page-browser.test.ts drives the page in Chromium.

const TOKEN = 'fleet-admin-token-0123456789'
let fleet: MlpFleet
let broken: Peer
let pool: NpuWorkerPool
let app: FastifyInstance
let base: string
const PAGE = '/api/npu/pool/fleet'

beforeAll(async () => {
  ;[fleet, broken] = await Promise.all([
    startMlpFleet(2, {
      manifest: FAKE_NPU_MLP_MANIFEST,
      // Worker 1's fake NPU returns numbers 0.5 off after its load-time self-test; it self-tests every second.
      envFor: (i) =>
        i === 0
          ? fakeNpuHooks()
          : {
              ...fakeNpuHooks({ mlp: { drift: { after: 1, offset: 0.5 } } }),
              NPU_WORKER_SELF_TEST_INTERVAL_SECONDS: '1',
            },
    }),
    startPeer('server-error'),
  ])
  pool = new NpuWorkerPool({
    config: {
      workers: [
        workerEntry('broken', broken.url, { priority: 10 }),
        workerEntry('npu', fleet.workers[0]!.url),
        workerEntry('drifting', fleet.workers[1]!.url, { priority: 1 }),
      ],
      load_balancing: { failure_threshold: 1, retry_cooldown_seconds: 600, health_check_interval: 0.3 },
    },
    logger: captureLogger(),
  })
  await pool.initialize()
  // One 500 from `broken` opens its circuit; the retry is answered by `npu`.
  expect(await pool.infer('mlp', mlpRequest())).toMatchObject({ success: true, workerId: 'npu' })
  app = Fastify()
  await app.register(npuPoolAdmin, { pool, token: TOKEN, fleetPage: { refreshMs: 200 } })
  app.post('/host-form', async () => ({ parsed: true }))
  base = await app.listen({ host: '127.0.0.1', port: 0 })
})
afterAll(async () => {
  await app?.close()
  await pool?.close()
  await Promise.all([fleet?.stop(), broken?.stop()])
})

async function call(
  method: 'GET' | 'POST',
  path: string,
  options: { headers?: Record<string, string>; body?: string } = {},
) {
  const res = await request(`${base}${path}`, { method, headers: options.headers, body: options.body })
  const text = await res.body.text()
  return { status: res.statusCode, headers: res.headers, text }
}

async function login(token = TOKEN): Promise<ReturnType<typeof call>> {
  return call('POST', `${PAGE}/login`, {
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: base },
    body: new URLSearchParams({ token }).toString(),
  })
}

/** The session cookie pair (`name=value`) from a login answer. */
function cookieOf(res: { headers: Record<string, unknown> }): string {
  return String(res.headers['set-cookie']).split(';')[0] as string
}

describe('the fleet page without the token', () => {
  it('answers 401: the page (with the login form) and every data route', async () => {
    const page = await call('GET', PAGE)
    expect(page.status).toBe(401)
    expect(page.headers['content-type']).toMatch(/^text\/html/)
    expect(page.text).toContain('<form method="post" action="fleet/login">')
    // Nothing about the fleet, not even a worker id.
    for (const id of ['broken', 'drifting', broken.url]) expect(page.text).not.toContain(id)
    for (const path of [`${PAGE}/data`, `${PAGE}/events`, `${PAGE}/workers/npu`]) {
      const res = await call('GET', path)
      expect(res.status, path).toBe(401)
      expect(JSON.parse(res.text)).toMatchObject({ code: 'POOL_ERR_UNAUTHORIZED' })
    }
    // A cookie that names no session is no better.
    const forged = await call('GET', `${PAGE}/data`, { headers: { cookie: 'npu_pool_session=forged' } })
    expect(forged.status).toBe(401)
  })

  it('serves the page with a strict Content-Security-Policy and nothing from outside', async () => {
    const page = await call('GET', PAGE, { headers: { authorization: `Bearer ${TOKEN}` } })
    expect(page.status).toBe(200)
    const csp = String(page.headers['content-security-policy'])
    expect(csp).toContain("default-src 'none'")
    expect(csp).toContain("script-src 'self'")
    expect(csp).toContain("frame-ancestors 'none'")
    expect(page.headers['cache-control']).toBe('no-store')
    expect(page.headers['x-content-type-options']).toBe('nosniff')
    // No inline script or style (the policy would block them) and no absolute URL to anywhere.
    expect(page.text).not.toMatch(/<script>|<style|style=|https?:\/\//)
    for (const asset of ['fleet.css', 'fleet.js']) {
      const res = await call('GET', `${PAGE}/${asset}`)
      expect(res.status).toBe(200)
      expect(res.text).not.toMatch(/https?:\/\//)
    }
  })
})

describe('logging in', () => {
  it('refuses a wrong token: back to the login form with a notice, no cookie', async () => {
    const res = await login('wrong-token-0123456789')
    expect(res.status).toBe(303)
    expect(res.headers.location).toBe(`${PAGE}?login=failed`)
    expect(res.headers['set-cookie']).toBeUndefined()
    const page = await call('GET', `${PAGE}?login=failed`)
    expect(page.status).toBe(401)
    expect(page.text).toContain('That token was not accepted.')
  })

  it('exchanges the right token for an HttpOnly, SameSite=Strict cookie scoped to the page', async () => {
    const res = await login()
    expect(res.status).toBe(303)
    expect(res.headers.location).toBe(PAGE)
    const cookie = String(res.headers['set-cookie'])
    expect(cookie).toMatch(/^npu_pool_session=[A-Za-z0-9_-]{43}; /)
    expect(cookie).toContain('HttpOnly')
    expect(cookie).toContain('SameSite=Strict')
    expect(cookie).toContain(`Path=${PAGE}`)
    expect(cookie).toContain(`Max-Age=${8 * 3600}`)
    // Plain HTTP here: Secure would make the browser drop it (auto mode sets it behind HTTPS).
    expect(cookie).not.toContain('Secure')
    const session = { cookie: cookieOf(res) }
    expect((await call('GET', PAGE, { headers: session })).status).toBe(200)
    expect((await call('GET', `${PAGE}/data`, { headers: session })).status).toBe(200)
    // The cookie opens the page only: the other admin routes stay bearer-only (reload above all).
    expect((await call('GET', '/api/npu/pool/workers', { headers: session })).status).toBe(401)
    expect((await call('POST', '/api/npu/pool/reload', { headers: session })).status).toBe(401)
  })

  it('refuses a login or a logout posted from another site', async () => {
    for (const headers of [
      { origin: 'http://evil.example' },
      { 'sec-fetch-site': 'cross-site' },
      { 'sec-fetch-site': 'same-site' },
      { origin: 'null' },
    ] as Record<string, string>[]) {
      const res = await call('POST', `${PAGE}/login`, {
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
        body: `token=${TOKEN}`,
      })
      expect(res.status).toBe(403)
      expect(res.headers['set-cookie']).toBeUndefined()
    }
    const out = await call('POST', `${PAGE}/logout`, { headers: { origin: 'http://evil.example' } })
    expect(out.status).toBe(403)
  })

  it('keeps its form parser to itself: the host app still refuses form bodies', async () => {
    const res = await call('POST', '/host-form', {
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'a=1',
    })
    expect(res.status).toBe(415)
  })

  it('ends the session at logout', async () => {
    const session = { cookie: cookieOf(await login()) }
    expect((await call('GET', `${PAGE}/data`, { headers: session })).status).toBe(200)
    const out = await call('POST', `${PAGE}/logout`, { headers: { ...session, origin: base } })
    expect(out.status).toBe(303)
    expect(String(out.headers['set-cookie'])).toContain('Max-Age=0')
    expect((await call('GET', `${PAGE}/data`, { headers: session })).status).toBe(401)
  })
})

describe('the fleet data', () => {
  const bearer = { authorization: `Bearer ${TOKEN}` }

  it('has one row per worker, and rows needing attention say why: circuit open, output drift', async () => {
    // The drifting worker's first self-test after load runs within a second.
    await waitUntil(
      async () => {
        const view = FleetViewSchema.parse(
          JSON.parse((await call('GET', `${PAGE}/data`, { headers: bearer })).text),
        )
        return view.workers.find((w) => w.id === 'drifting')?.drifting_models.length === 1
      },
      'the drifting worker to report drift',
      30_000,
    )
    const view = FleetViewSchema.parse(
      JSON.parse((await call('GET', `${PAGE}/data`, { headers: bearer })).text),
    )
    expect(view.workers.map((w) => w.id)).toEqual(['broken', 'npu', 'drifting'])
    const [broken, npu, drifting] = view.workers
    expect(npu).toMatchObject({
      health: 'healthy',
      device: 'NPU',
      version: '1.0.0',
      circuit_state: 'closed',
      models: ['mlp'],
      attention: [],
      max_concurrent_tasks: 4,
    })
    expect(npu!.latency_ms.samples).toBe(1)
    expect(npu!.latency_ms.p99).toBeGreaterThan(0)
    expect(npu!.worker_load).toMatchObject({ active: 0, queued: 0 })
    expect(broken!.circuit_state).toBe('open')
    expect(broken!.attention).toContain('circuit open: its tasks failed, traffic goes elsewhere')
    expect(drifting).toMatchObject({ health: 'degraded', drifting_models: ['mlp:1'] })
    expect(drifting!.attention).toContain('output drift: mlp:1')
    expect(
      drifting!.attention.some((a) => a.startsWith('degraded: models degraded: mlp:1 (output drift')),
    ).toBe(true)
    expect(view.stats).toMatchObject({ total_workers: 3, healthy_workers: 3 })
  })

  it("gives a worker's last /health body, reasons per model included; 404 for an id no worker has", async () => {
    const res = await call('GET', `${PAGE}/workers/drifting`, { headers: bearer })
    expect(res.status).toBe(200)
    const report = FleetWorkerReportSchema.parse(JSON.parse(res.text))
    expect(report.id).toBe('drifting')
    expect(Date.parse(report.received_at as string)).toBeGreaterThan(Date.now() - 60_000)
    expect(report.health?.models[0]).toMatchObject({
      name: 'mlp',
      state: 'degraded',
      self_test: { result: 'drift' },
    })
    const missing = await call('GET', `${PAGE}/workers/nobody`, { headers: bearer })
    expect(missing.status).toBe(404)
    expect(JSON.parse(missing.text)).toMatchObject({ code: 'POOL_ERR_WORKER_NOT_FOUND' })
  })

  it('streams the view as server-sent events, the first at once', async () => {
    // A client of its own, destroyed at the end: a stream left half-read must not linger in the shared pool.
    const client = new Client(base)
    const res = await client.request({ path: `${PAGE}/events`, method: 'GET', headers: bearer })
    expect(res.statusCode).toBe(200)
    expect(res.headers['content-type']).toBe('text/event-stream; charset=utf-8')
    expect(String(res.headers['content-security-policy'])).toContain("default-src 'none'")
    const events: string[] = []
    let buffer = ''
    for await (const chunk of res.body) {
      buffer += String(chunk)
      const parts = buffer.split('\n\n')
      buffer = parts.pop() ?? ''
      events.push(...parts)
      if (events.length >= 2) break
    }
    await client.destroy()
    for (const event of events) {
      const [kind, data] = event.split('\n')
      expect(kind).toBe('event: fleet')
      expect(FleetViewSchema.parse(JSON.parse((data as string).slice('data: '.length))).workers).toHaveLength(
        3,
      )
    }
  })
})

describe('a session that expires', () => {
  it('stops opening the page, and ends its event stream with an expired event', async () => {
    const short = Fastify()
    await short.register(npuPoolAdmin, {
      pool,
      token: TOKEN,
      fleetPage: { refreshMs: 100, sessionTtlSeconds: 1 },
    })
    const url = await short.listen({ host: '127.0.0.1', port: 0 })
    try {
      const res = await request(`${url}${PAGE}/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: `token=${TOKEN}`,
      })
      await res.body.dump()
      const cookie = String(res.headers['set-cookie']).split(';')[0] as string
      const stream = await request(`${url}${PAGE}/events`, { headers: { cookie } })
      expect(stream.statusCode).toBe(200)
      // The stream runs until the session's second is up, then says so and ends (the body completes).
      const text = await stream.body.text()
      expect(text).toContain('event: fleet')
      expect(text.trimEnd().endsWith('event: expired\ndata: {}')).toBe(true)
      const after = await request(`${url}${PAGE}/data`, { headers: { cookie } })
      await after.body.dump()
      expect(after.statusCode).toBe(401)
    } finally {
      await short.close()
    }
  })

  it('ends its open streams when the app closes, so the close never waits on a browser', async () => {
    const closing = Fastify()
    await closing.register(npuPoolAdmin, { pool, token: TOKEN, fleetPage: { refreshMs: 100 } })
    const url = await closing.listen({ host: '127.0.0.1', port: 0 })
    const client = new Client(url)
    try {
      const stream = await client.request({
        path: `${PAGE}/events`,
        method: 'GET',
        headers: { authorization: `Bearer ${TOKEN}` },
      })
      const text = stream.body.text()
      await closing.close()
      expect(await text).toContain('event: fleet')
    } finally {
      await client.destroy()
    }
  })
})
