import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ModelHealth } from '@npu-fleet/protocol'
import { afterEach, describe, expect, it } from 'vitest'
import { buildSpinModel } from '../../src/testing/spin-model.js'
import { expectConsistent, HealthPoller, type HealthSample } from '../helpers/health-poller.js'
import { startWorker, type WorkerProcess } from '../helpers/worker-process.js'

// A model's second ONNX Runtime instance starts when a request would wait and retires when idle, seen from
// outside: /health at every stage (one running and one dormant instance is a model that serves fully; the load's
// capacity stays the configured slots, so the pool balances as before), and a demand start that fails.

const repos: string[] = []
afterEach(() => {
  for (const dir of repos.splice(0)) rmSync(dir, { recursive: true, force: true })
})

/** A repository with the spin model (a real native loop of about `iterations` µs per call), 2 instances. */
function spinRepository(idleTimeoutMs: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'instances-on-demand-'))
  repos.push(dir)
  mkdirSync(join(dir, 'spin', '1'), { recursive: true })
  writeFileSync(join(dir, 'spin', '1', 'model.onnx'), buildSpinModel())
  writeFileSync(
    join(dir, 'spin', 'model.yaml'),
    `devices: [CPU]\ninstances: 2\ninstance_idle_timeout_ms: ${idleTimeoutMs}\n`,
  )
  return dir
}

async function infer(worker: WorkerProcess, iterations: number, x: number) {
  const res = await fetch(`${worker.url}/v2/models/spin/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      inputs: [
        { name: 'iterations', datatype: 'INT64', shape: [1], data: [String(iterations)] },
        { name: 'x', datatype: 'FP32', shape: [1], data: [x] },
      ],
    }),
  })
  return { status: res.status, body: (await res.json()) as { outputs?: { data: number[] }[] } }
}

const spinModel = (s: HealthSample): ModelHealth => s.body.models[0] as ModelHealth
const instancesOf = (s: HealthSample) => spinModel(s).parallelism?.instances

/** Two requests at once: the second would wait, so it wakes the dormant instance. */
async function burst(worker: WorkerProcess) {
  const [a, b] = await Promise.all([infer(worker, 300_000, 1), infer(worker, 10, 2)])
  expect([a.status, b.status]).toEqual([200, 200])
  expect([a.body.outputs?.[0]?.data, b.body.outputs?.[0]?.data]).toEqual([[300_001], [12]])
}

describe('ONNX Runtime instances on demand, seen through /health', () => {
  it('one running and one dormant at start, two under concurrency, one again after the idle timeout; ready throughout', async () => {
    const worker = await startWorker({
      modelsDir: spinRepository(1_000),
      waitFor: 'ready',
      // Self-tests every second: they must not wake the dormant instance.
      env: { NPU_WORKER_SELF_TEST_INTERVAL_SECONDS: '1' },
    })
    const poller = new HealthPoller(worker.url, 20)
    const idle = await poller.until((s) => spinModel(s)?.state === 'ready')
    expect(spinModel(idle).parallelism).toEqual({
      configured: 2,
      loaded: 2,
      live: 2,
      reason: null,
      instances: { running: 1, starting: 0, dormant: 1, down: 0, idle_timeout_ms: 1_000 },
    })
    expect(idle.body.load.capacity).toBe(2)
    const metrics = await (await fetch(`${worker.url}/metrics`)).text()
    for (const [state, value] of [
      ['running', 1],
      ['starting', 0],
      ['dormant', 1],
      ['down', 0],
    ]) {
      expect(metrics).toContain(
        `npu_worker_model_instances{model="spin",version="1",state="${state}"} ${value}\n`,
      )
    }
    const firstSelfTest = idle.body.self_test?.last_run_at
    await poller.until(
      (s) => s.body.self_test?.last_run_at !== firstSelfTest && s.body.self_test?.last_run_at !== null,
    )

    await burst(worker)
    const grown = await poller.until((s) => instancesOf(s)?.running === 2)
    expect(instancesOf(grown)).toMatchObject({ dormant: 0, down: 0 })
    const shrunk = await poller.until((s) => instancesOf(s)?.running === 1)
    expect(instancesOf(shrunk)).toMatchObject({ dormant: 1, starting: 0, down: 0 })
    // And again on the next burst.
    await burst(worker)
    await poller.until((s) => instancesOf(s)?.running === 2)

    const samples = await poller.stop()
    for (const sample of samples) {
      expectConsistent(sample)
      // A dormant or starting instance is no fault: the model serves fully, with its configured slots.
      expect(spinModel(sample)).toMatchObject({ state: 'ready', reason: null })
      expect(sample.body.load.capacity).toBe(2)
      expect(sample.body.message).not.toMatch(/threads down/)
    }
    expect(samples.some((s) => instancesOf(s)?.starting === 1)).toBe(true)
    // Every self-test in the idle stretches ran on the running instance.
    const selfTests = new Set(samples.map((s) => s.body.self_test?.last_run_at))
    expect(selfTests.size).toBeGreaterThan(2)
    expect(await worker.stop()).toBe(0)
  })

  it('a demand start that fails degrades the model like a failed replacement until a retry starts it', async () => {
    const worker = await startWorker({
      modelsDir: spinRepository(60_000),
      waitFor: 'ready',
      // The load's start passes; the first start on demand fails.
      env: {
        NPU_WORKER_TEST_HOOKS: JSON.stringify({
          faults: { spin: { fail_thread_starts: { after: 1, count: 1 } } },
        }),
      },
    })
    const poller = new HealthPoller(worker.url, 20)
    await poller.until((s) => spinModel(s)?.state === 'ready')
    await burst(worker)
    const healed = await poller.until((s) => instancesOf(s)?.running === 2)
    expect(spinModel(healed)).toMatchObject({ state: 'ready' })
    const samples = await poller.stop()
    for (const sample of samples) expectConsistent(sample)
    const degraded = samples.find((s) => spinModel(s).state === 'degraded')
    expect(degraded, 'a sample while the failed instance waited for its retry').toBeTruthy()
    expect(spinModel(degraded as HealthSample)).toMatchObject({
      reason: expect.stringMatching(
        /1 of 2 ONNX Runtime threads down: a thread started on demand could not start: test hook fail_thread_starts/,
      ),
      parallelism: { live: 1, instances: { running: 1, down: 1 } },
    })
    expect((degraded as HealthSample).body.load.capacity).toBe(1)
    expect(await worker.stop()).toBe(0)
  })
})
