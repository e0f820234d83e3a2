import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import Fastify, { type FastifyInstance } from 'fastify'
import { type BrowserContext, chromium, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { systemToolAvailable } from '../../../../../apps/npu-worker/test/helpers/system-tool.js'
import { npuPoolAdmin } from '../../../src/admin/admin-plugin.js'
import { NpuWorkerPool } from '../../../src/pool.js'
import {
  captureLogger,
  FAKE_NPU_MLP_MANIFEST,
  fakeNpuHooks,
  type MlpFleet,
  mlpRequest,
  startMlpFleet,
  workerEntry,
} from '../../helpers/fleet.js'

// The fleet page in a real browser (issue 13): Debian's Chromium, headless, driven by playwright-core, against a
// pool over 3 real workers (on the fake NPU, so their /health says healthy; no NPU hardware is involved).
// Without the token the page and its data answer 401; after the login form, 3 healthy rows; after SIGKILL of
// one worker its row turns down (health interval 1 s) and stands out; a row opens the worker's /health
// reasons. The page must run under its Content-Security-Policy with no violation and send nothing off loopback.
// Screenshots go to packages/pool/test-results/ (ignored by git).

const CHROMIUM = '/usr/bin/chromium'
const HAVE_CHROMIUM = systemToolAvailable(CHROMIUM, 'chromium')
const ARTIFACTS = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'test-results')
// Keep Chromium off the closed network (ENVIRONMENT.md): no background services, no QUIC, no first-run fetches.
const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]
const TOKEN = 'browser-admin-token-0123456789'
const HEALTH_INTERVAL_SECONDS = 1
const PAGE = '/api/npu/pool/fleet'

let fleet: MlpFleet
let pool: NpuWorkerPool
let app: FastifyInstance
let base: string
let context: BrowserContext
let page: Page
const profile = mkdtempSync(join(tmpdir(), 'npu-fleet-chromium-'))
const offLoopback: string[] = []
/** The page's `getComputedStyle` (this package type-checks against Node, without the DOM library). */
type InPage = { getComputedStyle(element: unknown): { backgroundColor: string } }
const background = (selector: string) =>
  page
    .locator(selector)
    .evaluate((row) => (globalThis as unknown as InPage).getComputedStyle(row).backgroundColor)
const cspViolations: string[] = []

describe.skipIf(!HAVE_CHROMIUM)('the fleet page in headless Chromium', () => {
  beforeAll(async () => {
    fleet = await startMlpFleet(3, { manifest: FAKE_NPU_MLP_MANIFEST, env: fakeNpuHooks() })
    pool = new NpuWorkerPool({
      config: {
        workers: fleet.workers.map((w, i) => workerEntry(`worker-${i}`, w.url)),
        load_balancing: { health_check_interval: HEALTH_INTERVAL_SECONDS },
      },
      logger: captureLogger(),
    })
    await pool.initialize()
    // Some traffic, so the latency columns have figures.
    for (let i = 0; i < 6; i++) expect((await pool.infer('mlp', mlpRequest(1, i))).success).toBe(true)
    app = Fastify()
    await app.register(npuPoolAdmin, { pool, token: TOKEN, fleetPage: { refreshMs: 250 } })
    base = await app.listen({ host: '127.0.0.1', port: 0 })
    mkdirSync(ARTIFACTS, { recursive: true })
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_FLAGS,
      viewport: { width: 1400, height: 700 },
    })
    page = context.pages()[0] ?? (await context.newPage())
    page.on('request', (request) => {
      if (!request.url().startsWith(base)) offLoopback.push(request.url())
    })
    page.on('console', (message) => {
      if (/Content Security Policy/i.test(message.text())) cspViolations.push(message.text())
    })
  })
  afterAll(async () => {
    await context?.close()
    await app?.close()
    await pool?.close()
    await fleet?.stop()
    rmSync(profile, { recursive: true, force: true })
  })

  it('answers 401 without the token: the page shows only the login form, its data is refused', async () => {
    const response = await page.goto(`${base}${PAGE}`)
    expect(response?.status()).toBe(401)
    await expect(page.locator('input[name="token"]').isVisible()).resolves.toBe(true)
    expect(await page.locator('#fleet').count()).toBe(0)
    const statuses = await page.evaluate(async () =>
      Promise.all(
        ['fleet/data', 'fleet/events', 'fleet/workers/worker-0'].map(async (u) => (await fetch(u)).status),
      ),
    )
    expect(statuses).toEqual([401, 401, 401])
  })

  it('logs in through the form and shows 3 healthy rows', async () => {
    await page.fill('input[name="token"]', TOKEN)
    await Promise.all([page.waitForURL(`${base}${PAGE}`), page.click('button[type="submit"]')])
    await page.waitForSelector('tr[data-health="healthy"]:nth-child(3)')
    expect(await page.locator('#fleet tbody tr').count()).toBe(3)
    expect(await page.locator('#fleet tbody tr[data-health="healthy"]').count()).toBe(3)
    expect(await page.locator('#fleet tbody tr.attention').count()).toBe(0)
    const first = page.locator('tr[data-worker="worker-0"]')
    expect(await first.locator('td').nth(2).textContent()).toBe('NPU')
    expect(await first.locator('td').nth(3).textContent()).toBe('1.0.0')
    expect(await first.locator('td').nth(4).textContent()).toBe('closed')
    expect(await first.locator('td').nth(8).textContent()).toBe('mlp')
    expect(await page.locator('#summary').textContent()).toContain('3 of 3 workers up, 0 need attention')
    await page.screenshot({ path: join(ARTIFACTS, 'fleet-page-healthy.png'), fullPage: true })
  })

  it("turns a killed worker's row to down within the health interval, and makes it stand out", async () => {
    const healthyBackground = await background('tr[data-worker="worker-0"]')
    const killedAt = Date.now()
    await fleet.workers[1]!.stop('SIGKILL')
    // State decides; the deadline (many health intervals) only bounds a failure.
    await page.waitForSelector('tr[data-worker="worker-1"][data-health="down"]', { timeout: 20_000 })
    const seconds = (Date.now() - killedAt) / 1000
    console.log(
      `fleet page: row down ${seconds.toFixed(2)} s after SIGKILL (health interval ${HEALTH_INTERVAL_SECONDS} s, page refresh 0.25 s)`,
    )
    const down = page.locator('tr[data-worker="worker-1"]')
    expect(await down.getAttribute('class')).toContain('attention severe')
    expect(await down.locator('td').nth(9).textContent()).toMatch(/^down: /)
    expect(await background('tr[data-worker="worker-1"]')).not.toBe(healthyBackground)
    expect(await page.locator('#fleet tbody tr[data-health="healthy"]').count()).toBe(2)
    await page.screenshot({ path: join(ARTIFACTS, 'fleet-page-worker-down.png'), fullPage: true })
  })

  it("opens a row: the worker's reasons from its last /health", async () => {
    await page.click('tr[data-worker="worker-0"] button.worker-id')
    await page.waitForSelector('#detail:not([hidden]) table tbody tr')
    expect(await page.locator('#detail-title').textContent()).toMatch(
      /^worker-0: healthy \(its last \/health answer, /,
    )
    const model = page.locator('#detail table tbody tr').first()
    expect(await model.locator('td').nth(0).textContent()).toBe('mlp:1')
    expect(await model.locator('td').nth(1).textContent()).toBe('ready')
    expect(await model.locator('td').nth(2).textContent()).toBe('openvino/NPU (prefers NPU)')
    expect(await model.locator('td').nth(4).textContent()).toMatch(/^pass, max error/)
    expect(await page.locator('#detail dl').textContent()).toContain(
      'every model serves fully on its preferred device',
    )
    await page.screenshot({ path: join(ARTIFACTS, 'fleet-page-detail.png'), fullPage: true })
  })

  it('ran under its Content-Security-Policy with no violation, and requested nothing off loopback', () => {
    expect(cspViolations).toEqual([])
    expect(offLoopback).toEqual([])
  })
})
