import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { buildApp } from '../../src/app.js'
import { resolveWorkerConfig } from '../../src/config.js'
import { REJECTION_REASONS } from '../../src/metrics/rejection-reason.js'
import { promtool, seriesValue } from '../helpers/promtool.js'
import { DIST_THREAD_ENTRIES } from '../helpers/thread-entries.js'
import {
  GENERATED_MODELS_DIR,
  makeMlpModelRepository,
  startWorker,
  type TempModelRepository,
  type WorkerProcess,
} from '../helpers/worker-process.js'

// The metrics an operator alerts on (issue 13): queue wait and execution apart, batch sizes, rejections by
// reason, model state, the self-test result against its tolerance, the health status. Rejections while
// starting and draining are exercised in process (the lifecycle is set directly); everything else against
// real worker processes, on the fake NPU where a device fault is needed. Every exposition must pass
// `promtool check metrics` with nothing to say.

const MLP_INPUT = Array.from({ length: 384 }, (_, i) => Math.cos(i * 0.05) / 2)
const INFER_BODY = JSON.stringify({
  inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 384], data: MLP_INPUT }],
})
const MLP = 'model="mlp",version="1"'

const repos: string[] = []
afterEach(() => {
  for (const dir of repos.splice(0)) rmSync(dir, { recursive: true, force: true })
})

/** A repository holding the generated MLP with `manifest` as its model.yaml. */
function mlpRepository(manifest: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'worker-metrics-'))
  repos.push(dir)
  cpSync(join(GENERATED_MODELS_DIR, 'mlp'), join(dir, 'mlp'), { recursive: true })
  writeFileSync(join(dir, 'mlp', 'model.yaml'), manifest)
  return dir
}

function infer(url: string, headers: Record<string, string> = {}) {
  return fetch(`${url}/v2/models/mlp/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: INFER_BODY,
  })
}

async function scrape(url: string): Promise<string> {
  const res = await fetch(`${url}/metrics`)
  expect(res.status).toBe(200)
  return res.text()
}

/** Polls the exposition until `series` has `value` (state, not time, decides; the deadline only bounds a failure). */
async function untilSeries(url: string, series: string, value: number, timeoutMs = 20_000): Promise<string> {
  const end = Date.now() + timeoutMs
  let text = ''
  while (Date.now() < end) {
    text = await scrape(url)
    if (seriesValue(text, series) === value) return text
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
  throw new Error(`timed out waiting for ${series} = ${value}; last exposition:\n${text}`)
}

async function expectPromtoolClean(text: string): Promise<void> {
  const run = await promtool(['check', 'metrics'], text)
  expect(run.output.trim()).toBe('')
  expect(run.code).toBe(0)
}

describe('rejections while starting and draining, and the default metrics (in process)', () => {
  let repository: TempModelRepository
  let app: FastifyInstance
  beforeAll(async () => {
    repository = makeMlpModelRepository()
    app = await buildApp({
      config: resolveWorkerConfig({ models_dir: repository.dir }),
      threadEntries: DIST_THREAD_ENTRIES,
    })
  })
  afterAll(async () => {
    await app?.close()
    repository?.cleanup()
  })
  const metrics = async () => (await app.inject({ method: 'GET', url: '/metrics' })).body

  it('counts every reason from zero, and NPU_ERR_NOT_SERVING as starting, then draining', async () => {
    let text = await metrics()
    for (const reason of REJECTION_REASONS)
      expect(seriesValue(text, `npu_worker_rejections_total{reason="${reason}"}`)).toBe(0)
    // buildApp alone loads nothing: the worker is starting, its model loading.
    expect(seriesValue(text, 'npu_worker_health_status{status="starting"}')).toBe(1)
    expect(seriesValue(text, `npu_worker_model_state{${MLP},state="loading"}`)).toBe(1)

    const starting = await app.inject({
      method: 'POST',
      url: '/v2/models/mlp/infer',
      body: INFER_BODY,
      headers: { 'content-type': 'application/json' },
    })
    expect(starting.statusCode).toBe(503)
    expect(starting.json()).toMatchObject({ code: 'NPU_ERR_NOT_SERVING' })
    app.lifecycle.markDraining()
    const draining = await app.inject({
      method: 'POST',
      url: '/v2/models/mlp/infer',
      body: INFER_BODY,
      headers: { 'content-type': 'application/json' },
    })
    expect(draining.statusCode).toBe(503)
    // A malformed body is no rejection: it is the caller's error, counted only by its status.
    const bad = await app.inject({
      method: 'POST',
      url: '/v2/models/mlp/infer',
      body: '{not json',
      headers: { 'content-type': 'application/json' },
    })
    expect(bad.statusCode).toBe(400)

    text = await metrics()
    expect(seriesValue(text, 'npu_worker_rejections_total{reason="starting"}')).toBe(1)
    expect(seriesValue(text, 'npu_worker_rejections_total{reason="draining"}')).toBe(1)
    expect(seriesValue(text, 'npu_worker_rejections_total{reason="queue_full"}')).toBe(0)
    expect(seriesValue(text, 'npu_worker_health_status{status="draining"}')).toBe(1)
    expect(seriesValue(text, 'npu_worker_health_status{status="starting"}')).toBe(0)
  })

  it('drops the three default gauges named _total and keeps their information in the gauges by type', async () => {
    const text = await metrics()
    for (const name of ['active_handles', 'active_requests', 'active_resources']) {
      expect(text).not.toContain(`npu_worker_nodejs_${name}_total`)
      expect(text).toContain(`# TYPE npu_worker_nodejs_${name} gauge`)
    }
    // The process holds handles (its timers, its pipes): the by-type gauge has them, summed they are the total.
    expect(text).toMatch(/^npu_worker_nodejs_active_handles\{type="[A-Za-z]+"\} [1-9]/m)
    expect(seriesValue(text, 'npu_worker_info{version="1.0.0",protocol_version="1"}')).toBe(1)
    await expectPromtoolClean(text)
  })
})

describe('against a real worker', () => {
  let worker: WorkerProcess | undefined
  afterEach(async () => {
    await worker?.stop('SIGKILL')
    worker = undefined
  })

  it('splits queue wait from execution, and counts queue-full and deadline rejections (a hung fake NPU holds the slot)', async () => {
    const dir = mlpRepository(
      'devices: [NPU, CPU]\nstatic_shapes: { input: [1, 384] }\ninstances: 1\ninference_timeout_ms: 20000\nqueue: { max_queued: 1 }\n',
    )
    const hooks = {
      fake_openvino: { devices: ['NPU', 'CPU'] },
      // The load-time self-test is the device's first inference, the first request passes, the second hangs.
      faults: { mlp: { hang: { after: 2, count: 1 } } },
    }
    worker = await startWorker({
      modelsDir: dir,
      waitFor: 'ready',
      env: { NPU_WORKER_TEST_HOOKS: JSON.stringify(hooks), NPU_WORKER_SELF_TEST_INTERVAL_SECONDS: '0' },
    })
    const url = worker.url
    expect((await infer(url)).status).toBe(200)
    let text = await scrape(url)
    expect(seriesValue(text, `npu_worker_queue_capacity{${MLP}}`)).toBe(1)
    expect(seriesValue(text, `npu_worker_inference_slots{${MLP}}`)).toBe(1)
    expect(seriesValue(text, `npu_worker_queue_wait_seconds_count{${MLP}}`)).toBe(1)
    expect(
      seriesValue(
        text,
        `npu_worker_inference_duration_seconds_count{${MLP},backend="openvino",device="NPU",outcome="ok"}`,
      ),
    ).toBe(1)

    // The second request hangs on the device and holds the one slot; the next waits; the one after is refused.
    // Never awaited: it answers only at the hard limit, after the test (the worker is killed first).
    infer(url).catch(() => null)
    await untilSeries(url, `npu_worker_active_inferences{${MLP}}`, 1)
    const waiting = infer(url, { 'x-request-timeout-ms': '1500' })
    await untilSeries(url, `npu_worker_queue_depth{${MLP}}`, 1)
    const refused = await infer(url)
    expect(refused.status).toBe(503)
    expect(await refused.json()).toMatchObject({ code: 'NPU_ERR_QUEUE_FULL' })
    const late = await waiting
    expect(late.status).toBe(504)
    expect(await late.json()).toMatchObject({ code: 'NPU_ERR_DEADLINE_EXCEEDED' })

    text = await scrape(url)
    expect(seriesValue(text, 'npu_worker_rejections_total{reason="queue_full"}')).toBe(1)
    expect(seriesValue(text, 'npu_worker_rejections_total{reason="deadline"}')).toBe(1)
    // The hung request started (a wait sample, its execution still running); the one that timed out in the
    // queue never started, so it has no wait sample: it is a rejection.
    expect(seriesValue(text, `npu_worker_queue_wait_seconds_count{${MLP}}`)).toBe(2)
    expect(
      seriesValue(
        text,
        `npu_worker_inference_duration_seconds_count{${MLP},backend="openvino",device="NPU",outcome="ok"}`,
      ),
    ).toBe(1)
    expect(seriesValue(text, `npu_worker_model_state{${MLP},state="ready"}`)).toBe(1)
    expect(seriesValue(text, 'npu_worker_npu_available')).toBe(1)
    await expectPromtoolClean(text)
  })

  it('shows output drift: the self-test result, its max error above the tolerance, the model degraded', async () => {
    const dir = mlpRepository('devices: [NPU, CPU]\nstatic_shapes: { input: [1, 384] }\n')
    const hooks = {
      fake_openvino: { devices: ['NPU', 'CPU'] },
      // The load-time self-test passes; every later one drifts by 0.5.
      faults: { mlp: { drift: { after: 1, offset: 0.5 } } },
    }
    worker = await startWorker({
      modelsDir: dir,
      waitFor: 'ready',
      env: { NPU_WORKER_TEST_HOOKS: JSON.stringify(hooks), NPU_WORKER_SELF_TEST_INTERVAL_SECONDS: '1' },
    })
    const text = await untilSeries(
      worker.url,
      `npu_worker_self_test_result{${MLP},result="drift"}`,
      1,
      30_000,
    )
    expect(seriesValue(text, `npu_worker_self_test_result{${MLP},result="pass"}`)).toBe(0)
    const maxError = seriesValue(text, `npu_worker_self_test_max_abs_error{${MLP}}`) as number
    const atol = seriesValue(text, `npu_worker_self_test_tolerance_atol{${MLP}}`) as number
    expect(maxError).toBeCloseTo(0.5, 1)
    expect(maxError).toBeGreaterThan(atol)
    expect(seriesValue(text, `npu_worker_self_test_tolerance_rtol{${MLP}}`)).toBeGreaterThan(0)
    expect(seriesValue(text, `npu_worker_self_test_mismatches{${MLP}}`)).toBe(16)
    expect(seriesValue(text, `npu_worker_self_test_timestamp_seconds{${MLP}}`)).toBeGreaterThan(
      Date.now() / 1000 - 600,
    )
    // /health and the metrics agree: the model is degraded, on the NPU (no fallback), and so is the worker.
    const health = (await (await fetch(`${worker.url}/health`)).json()) as { status: string }
    const after = await scrape(worker.url)
    expect(seriesValue(after, `npu_worker_model_state{${MLP},state="degraded"}`)).toBe(1)
    expect(seriesValue(after, `npu_worker_model_fallback{${MLP}}`)).toBe(0)
    expect(health.status).toBe('degraded')
    expect(seriesValue(after, 'npu_worker_health_status{status="degraded"}')).toBe(1)
    await expectPromtoolClean(after)
  })

  it('records batch sizes: requests merged per inference, and the wait for batch-mates as queue wait', async () => {
    const dir = mlpRepository('devices: [CPU]\nbatching: { max_batch_size: 8, max_queue_delay_us: 300000 }\n')
    worker = await startWorker({ modelsDir: dir, waitFor: 'ready' })
    const answers = await Promise.all(Array.from({ length: 6 }, () => infer(worker!.url)))
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200, 200])
    const text = await scrape(worker.url)
    const inferences = seriesValue(text, `npu_worker_inference_batch_size_count{${MLP}}`) as number
    expect(seriesValue(text, `npu_worker_inference_batch_size_sum{${MLP}}`)).toBe(6)
    // Six requests within a 300 ms window merge into fewer inferences than requests.
    expect(inferences).toBeLessThan(6)
    expect(
      seriesValue(
        text,
        `npu_worker_inference_duration_seconds_count{${MLP},backend="onnxruntime",device="CPU",outcome="ok"}`,
      ),
    ).toBe(inferences)
    expect(seriesValue(text, `npu_worker_queue_wait_seconds_count{${MLP}}`)).toBe(6)
    expect(seriesValue(text, `npu_worker_queue_wait_seconds_sum{${MLP}}`)).toBeGreaterThan(0)
    expect(seriesValue(text, `npu_worker_model_fallback{${MLP}}`)).toBe(1)
    await expectPromtoolClean(text)
  })
})
