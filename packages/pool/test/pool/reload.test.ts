import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { NpuWorkerPool } from '../../src/pool.js'
import { captureLogger, type MlpFleet, mlpRequest, startMlpFleet, waitUntil } from '../helpers/fleet.js'
import { type Peer, startPeer } from '../helpers/peers.js'

// Hot reload against real workers: state of unchanged workers survives, removed workers drain and close, an
// invalid file changes nothing, a missing file falls back to NPU_WORKER_URL at start, the file watch works.

let fleet: MlpFleet
let broken: Peer
const pools: NpuWorkerPool[] = []
const dir = mkdtempSync(join(tmpdir(), 'npu-pool-reload-'))

beforeAll(async () => {
  ;[fleet, broken] = await Promise.all([startMlpFleet(3), startPeer('server-error')])
})
afterEach(async () => {
  for (const w of fleet.workers) w.process.kill('SIGCONT')
  await Promise.all(pools.splice(0).map((p) => p.close()))
})
afterAll(async () => {
  await Promise.all([fleet?.stop(), broken?.stop()])
  rmSync(dir, { recursive: true, force: true })
})

const url = (i: number) => fleet.workers[i]!.url
let n = 0
function configFile(yaml: string): string {
  const path = join(dir, `workers-${++n}.yaml`)
  writeFileSync(path, yaml)
  return path
}
async function poolFrom(path: string, extra: Partial<ConstructorParameters<typeof NpuWorkerPool>[0]> = {}) {
  const logs = captureLogger()
  const p = new NpuWorkerPool({ configPath: path, logger: logs, ...extra })
  pools.push(p)
  await p.initialize()
  return { p, logs }
}
const worker = (p: NpuWorkerPool, id: string) => p.getWorkers().find((w) => w.id === id)

describe('reloadConfig', () => {
  it('keeps breaker, counters and in-flight requests of unchanged workers; adds new ones health-checked', async () => {
    const lb = 'load_balancing: { failure_threshold: 2, retry_cooldown_seconds: 600 }\n'
    const path = configFile(`workers:
  - { id: broken, url: "${broken.url}", priority: 10, enabled: true }
  - { id: a, url: "${url(0)}", priority: 5, enabled: true }
${lb}`)
    const { p, logs } = await poolFrom(path)
    for (let i = 0; i < 2; i++)
      expect(await p.infer('mlp', mlpRequest())).toMatchObject({ workerId: 'a', attempts: 2 })
    expect(worker(p, 'broken')).toMatchObject({ circuitState: 'open', failures: 2 })

    // A request in flight on `a` across the reload.
    fleet.workers[0]!.process.kill('SIGSTOP')
    const inFlight = p.infer('mlp', mlpRequest())
    expect(worker(p, 'a')?.activeTasks).toBe(1)

    writeFileSync(
      path,
      `workers:
  - { id: broken, url: "${broken.url}", priority: 10, enabled: true }
  - { id: a, url: "${url(0)}", priority: 6, enabled: true, max_concurrent_tasks: 8 }
  - { id: c, url: "${url(1)}", priority: 1, enabled: true }
${lb}`,
    )
    const result = await p.reloadConfig()
    expect(result).toEqual({
      success: true,
      workersLoaded: 3,
      message: 'reloaded 3 workers: 1 added, 0 removed, 1 updated, 1 unchanged',
    })
    expect(logs.find('info', 'reloaded 3 workers')[0]?.fields).toMatchObject({
      added: ['c'],
      removed: [],
      updated: ['a'],
    })
    expect(worker(p, 'broken')).toMatchObject({ circuitState: 'open', failures: 2, totalRequests: 2 })
    expect(worker(p, 'a')).toMatchObject({
      priority: 6,
      maxConcurrentTasks: 8,
      totalRequests: 3,
      activeTasks: 1,
    })
    expect(worker(p, 'c')).toMatchObject({ healthy: true, totalRequests: 0 })

    fleet.workers[0]!.process.kill('SIGCONT')
    expect(await inFlight).toMatchObject({ success: true, workerId: 'a', attempts: 1 })
    expect(worker(p, 'a')?.activeTasks).toBe(0)
  })

  it('drains and closes removed workers: their in-flight requests finish, new traffic goes elsewhere', async () => {
    const path = configFile(`workers:
  - { id: leaving, url: "${url(1)}", priority: 10, enabled: true }
  - { id: staying, url: "${url(2)}", priority: 1, enabled: true }
`)
    const { p } = await poolFrom(path)
    fleet.workers[1]!.process.kill('SIGSTOP')
    const inFlight = p.infer('mlp', mlpRequest())
    writeFileSync(path, `workers:\n  - { id: staying, url: "${url(2)}", priority: 1, enabled: true }\n`)
    expect(await p.reloadConfig()).toMatchObject({ success: true, workersLoaded: 1 })
    expect(p.getStats()).toMatchObject({ totalWorkers: 1, drainingWorkers: 1, activeTasks: 1 })
    expect(await p.infer('mlp', mlpRequest())).toMatchObject({ success: true, workerId: 'staying' })
    fleet.workers[1]!.process.kill('SIGCONT')
    expect(await inFlight).toMatchObject({ success: true, workerId: 'leaving' })
    await waitUntil(() => p.getStats().drainingWorkers === 0, 'the removed worker to close')
    expect(p.getWorkers().map((w) => w.id)).toEqual(['staying'])
  })

  it('leaves the running config in place when the new file is invalid or missing, and says why', async () => {
    const path = configFile(`workers:
  - { id: a, url: "${url(0)}", enabled: true }
  - { id: b, url: "${url(1)}", enabled: true }
`)
    const { p, logs } = await poolFrom(path)
    writeFileSync(
      path,
      `workers:
  - { id: a, url: "${url(0)}", enabled: true }
  - { id: b, url: "${url(1)}", enabled: true, priority: 11 }
`,
    )
    expect(await p.reloadConfig()).toEqual({
      success: false,
      workersLoaded: 2,
      message: `${path}: workers[1].priority: must be between 1 and 10`,
      code: 'POOL_ERR_CONFIG_INVALID',
    })
    expect(logs.find('error', 'config reload failed')).toHaveLength(1)
    expect(p.getWorkers().map((w) => [w.id, w.priority])).toEqual([
      ['a', 5],
      ['b', 5],
    ])
    expect(await p.infer('mlp', mlpRequest())).toMatchObject({ success: true })
    rmSync(path)
    expect(await p.reloadConfig()).toMatchObject({
      success: false,
      workersLoaded: 2,
      message: `${path}: not found; keeping the current workers`,
    })
  })

  it('reloads a pool built from a config object only with a new object', async () => {
    const p = new NpuWorkerPool({
      config: { workers: [{ id: 'a', url: url(0), enabled: true }] },
      logger: captureLogger(),
    })
    pools.push(p)
    await p.initialize()
    expect(await p.reloadConfig()).toMatchObject({ success: false, code: 'POOL_ERR_CONFIG_INVALID' })
    expect(
      await p.reloadConfig({
        npu: { workers: [{ id: 'b', host: '127.0.0.1', port: fleet.workers[1]!.port, enabled: true }] },
      }),
    ).toMatchObject({
      success: true,
      workersLoaded: 1,
      message: 'reloaded 1 worker: 1 added, 1 removed, 0 updated, 0 unchanged',
    })
    expect(await p.infer('mlp', mlpRequest())).toMatchObject({ success: true, workerId: 'b' })
  })

  it('follows the file when watching', async () => {
    const path = configFile(`workers:\n  - { id: a, url: "${url(0)}", enabled: true }\n`)
    const { p, logs } = await poolFrom(path, { watch: { intervalMs: 50 } })
    writeFileSync(
      path,
      // Worker 2: never stopped by the tests above, so the new worker's first health check answers at once.
      `workers:\n  - { id: a, url: "${url(0)}", enabled: true }\n  - { id: b, url: "${url(2)}", enabled: true }\n`,
    )
    // The reload is logged once the new worker's first health check is done (the workers list changes earlier).
    await waitUntil(
      () => logs.find('info', 'reloaded 2 workers').length > 0,
      'the watched file to be reloaded',
    )
    expect(logs.find('info', 'reloaded 2 workers')).toHaveLength(1)
    expect(p.getWorkers().map((w) => w.id)).toEqual(['a', 'b'])
  })
})

describe('missing config file', () => {
  it('falls back to one worker from NPU_WORKER_URL and warns', async () => {
    const missing = join(dir, 'does-not-exist.yaml')
    const { p, logs } = await poolFrom(missing, { env: { NPU_WORKER_URL: url(2) } })
    expect(logs.find('warn', 'not found')[0]?.msg).toBe(
      `config file ${missing} not found; using one worker from NPU_WORKER_URL=${url(2)}`,
    )
    expect(p.getWorkers().map((w) => [w.id, w.url, w.healthy])).toEqual([['default', url(2), true]])
    expect(await p.infer('mlp', mlpRequest())).toMatchObject({ success: true, workerId: 'default' })
  })

  it('refuses to start on an invalid file, and can be initialized again once fixed', async () => {
    const path = configFile('workers:\n  - { id: a, url: "ftp://x", enabled: true }\n')
    const p = new NpuWorkerPool({ configPath: path, logger: captureLogger() })
    pools.push(p)
    await expect(p.initialize()).rejects.toMatchObject({
      code: 'POOL_ERR_CONFIG_INVALID',
      message: `${path}: workers[0].url: must be an http:// or https:// URL, got "ftp"`,
    })
    expect(await p.infer('mlp', mlpRequest())).toMatchObject({
      code: 'POOL_ERR_NOT_INITIALIZED',
      fallback: true,
    })
    writeFileSync(path, `workers:\n  - { id: a, url: "${url(0)}", enabled: true }\n`)
    await p.initialize()
    expect(await p.infer('mlp', mlpRequest())).toMatchObject({ success: true })
    await p.close()
    expect(await p.infer('mlp', mlpRequest())).toMatchObject({ code: 'POOL_ERR_CLOSED' })
  })
})
