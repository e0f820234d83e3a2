import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { NpuWorkerPool } from '../../src/pool.js'
import type { InferResult } from '../../src/pool-types.js'
import {
  captureLogger,
  type MlpFleet,
  mlpRequest,
  startMlpFleet,
  waitUntil,
  workerEntry,
} from '../helpers/fleet.js'

// SIGKILL of real workers: the retry lands on another worker, failures open the dead worker's circuit, traffic
// fails over to a lower tier, and a kill in the middle of a run loses no task.

let fleet: MlpFleet
const pools: NpuWorkerPool[] = []

beforeAll(async () => {
  // Workers 0 and 1 are killed by the tests below; 2 and 3 stay up.
  fleet = await startMlpFleet(4)
})
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()))
})
afterAll(async () => {
  await fleet?.stop()
})

const url = (i: number) => fleet.workers[i]!.url

describe('SIGKILL', () => {
  it('retries on another worker, opens the dead worker circuit after 5 failures, fails over to the lower tier', async () => {
    const logs = captureLogger()
    const p = new NpuWorkerPool({
      config: {
        workers: [
          workerEntry('primary', url(0), { priority: 10 }),
          workerEntry('backup-1', url(2), { priority: 5 }),
          workerEntry('backup-2', url(3), { priority: 5 }),
        ],
        // Health rounds off so the breaker alone reacts to the dead worker.
        load_balancing: { health_check_interval: 0, health_stale_seconds: 600 },
      },
      logger: logs,
    })
    pools.push(p)
    await p.initialize()
    expect(await p.infer('mlp', mlpRequest())).toMatchObject({ workerId: 'primary', attempts: 1 })
    await fleet.workers[0]!.stop('SIGKILL')

    for (let i = 0; i < 5; i++) {
      const r = await p.infer('mlp', mlpRequest(1, i))
      expect(r).toMatchObject({ success: true, attempts: 2 })
      if (r.success) expect(r.workerId).toMatch(/^backup-/)
    }
    const primary = () => p.getWorkers().find((w) => w.id === 'primary')!
    expect(primary()).toMatchObject({
      circuitState: 'open',
      failures: 5,
      totalRequests: 6,
      healthFailures: 0,
    })
    expect(logs.find('error', 'circuit opened')).toHaveLength(1)
    expect(logs.find('info', 'task attempt failed').map((l) => l.fields.reason)).toEqual(
      Array(5).fill('connection'),
    )

    const after = await Promise.all(Array.from({ length: 20 }, (_, i) => p.infer('mlp', mlpRequest(1, i))))
    expect(after.every((r) => r.success && r.attempts === 1 && r.workerId.startsWith('backup-'))).toBe(true)
    expect(primary().totalRequests).toBe(6)

    // Health and task failures are counted apart: a round now records the dead worker's health failure.
    await p.checkHealth()
    expect(primary()).toMatchObject({
      healthFailures: 1,
      failures: 5,
      lastHealthError: 'connection refused (ECONNREFUSED)',
    })
  })

  it('loses no task when 1 of 3 workers is killed mid-run; traffic moves to the others', async () => {
    const logs = captureLogger()
    const p = new NpuWorkerPool({
      config: {
        workers: [workerEntry('victim', url(1)), workerEntry('b', url(2)), workerEntry('c', url(3))],
        load_balancing: { health_check_interval: 0.5, unhealthy_threshold: 1, max_queued_tasks: 10_000 },
      },
      logger: logs,
    })
    pools.push(p)
    await p.initialize()
    const total = 600
    const results: InferResult[] = new Array(total)
    let next = 0
    let killedAt = -1
    const loop = async () => {
      while (next < total) {
        const i = next++
        if (i === 200 && killedAt < 0) {
          killedAt = i
          fleet.workers[1]!.process.kill('SIGKILL')
        }
        results[i] = await p.infer('mlp', mlpRequest(1, i))
      }
    }
    await Promise.all(Array.from({ length: 12 }, loop))
    const failures = results.filter((r) => !r.success)
    expect(failures).toEqual([])
    const victim = () => p.getWorkers().find((w) => w.id === 'victim')!
    expect(victim().successes).toBeGreaterThan(0)
    // Tasks started well after the kill all ran elsewhere.
    expect(results.slice(300).every((r) => r.success && r.workerId !== 'victim')).toBe(true)
    // The dead worker is out of rotation: its circuit opened or its health went down (whichever came first).
    await waitUntil(() => !victim().healthy, 'health checks to mark the killed worker down')
    expect(logs.find('warn', 'marked down')[0]?.fields).toMatchObject({ worker: 'victim' })
    expect(p.getStats()).toMatchObject({ totalTasksProcessed: total, successRate: 1, healthyWorkers: 2 })
  })
})
