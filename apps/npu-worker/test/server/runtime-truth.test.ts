import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { compareOutputs, HealthResponseSchema, InferResponseSchema, toleranceFor } from '@npu-fleet/protocol'
import { afterEach, describe, expect, it } from 'vitest'
import { buildSpinModel, SPIN_FOREVER } from '../../src/testing/spin-model.js'
import { expectConsistent, HealthPoller } from '../helpers/health-poller.js'
import { loadMlpReference } from '../helpers/mlp-reference.js'
import { GENERATED_MODELS_DIR, startWorker, type WorkerProcess } from '../helpers/worker-process.js'

// Runtime truth, end to end, against real worker processes: a real native hang (ONNX Runtime inside a Loop that
// runs for hours), a thread that dies with replacements that fail to start, a fake NPU that starts returning
// wrong numbers, a task that cannot serve. /health is polled through every transition and must be consistent in
// every sample; the next requests succeed after recovery; nothing waits forever, shutdown included.

const repos: string[] = []
afterEach(() => {
  for (const dir of repos.splice(0)) rmSync(dir, { recursive: true, force: true })
})

/**
 * A temporary repository: each model copied from the generated one (unless `files` gives its files), with
 * `manifest` as its model.yaml when given.
 */
function repository(
  models: Record<string, { manifest?: string; files?: Record<string, Uint8Array | string> }>,
): string {
  const dir = mkdtempSync(join(tmpdir(), 'runtime-truth-'))
  repos.push(dir)
  for (const [name, { manifest, files }] of Object.entries(models)) {
    if (!files) cpSync(join(GENERATED_MODELS_DIR, name), join(dir, name), { recursive: true })
    mkdirSync(join(dir, name, '1'), { recursive: true })
    for (const [file, data] of Object.entries(files ?? {})) writeFileSync(join(dir, name, file), data)
    if (manifest !== undefined) writeFileSync(join(dir, name, 'model.yaml'), manifest)
  }
  return dir
}

async function infer(worker: WorkerProcess, model: string, inputs: unknown[]) {
  const res = await fetch(`${worker.url}/v2/models/${model}/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ inputs }),
  })
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> }
}

const spinInputs = (iterations: bigint | number, x = 1) => [
  { name: 'iterations', datatype: 'INT64', shape: [1], data: [String(iterations)] },
  { name: 'x', datatype: 'FP32', shape: [1], data: [x] },
]

const MLP_INPUT = Array.from({ length: 384 }, (_, i) => Math.cos(i * 0.05) / 2)
const mlpInputs = [{ name: 'input', datatype: 'FP32', shape: [1, 384], data: MLP_INPUT }]

/** The answer equals the float64 reference within the tolerance of the device that computed it. */
function expectMlpAnswer(body: Record<string, unknown>, repo: string, device: 'CPU' | 'NPU') {
  const out = InferResponseSchema.parse(body).outputs[0]?.data as number[]
  const expected = loadMlpReference(join(repo, 'mlp', '1', 'model.onnx'))(MLP_INPUT, 1)
  expect(out).toHaveLength(16)
  expect(compareOutputs(out, expected, toleranceFor(device))).toMatchObject({ ok: true, mismatches: 0 })
}

describe('a real native hang on ONNX Runtime', () => {
  it('is cut at the hard limit (504), its thread abandoned and replaced; /health says so; shutdown cannot hang', async () => {
    const dir = repository({
      spin: {
        manifest: 'devices: [CPU]\ninstances: 1\ninference_timeout_ms: 1000\n',
        files: { '1/model.onnx': buildSpinModel() },
      },
    })
    const worker = await startWorker({ modelsDir: dir, waitFor: 'ready' })
    const poller = new HealthPoller(worker.url)
    const before = await poller.until((s) => s.body.status !== 'starting')
    expect(before.body.models[0]).toMatchObject({ name: 'spin', state: 'ready', abandoned_calls: 0 })
    expect((await infer(worker, 'spin', spinInputs(5, 1))).body).toMatchObject({
      outputs: [{ name: 'y', data: [6] }],
    })

    // Hours of native work inside one session.run: only the hard limit ends the request.
    const hung = await infer(worker, 'spin', spinInputs(SPIN_FOREVER))
    expect(hung.status).toBe(504)
    expect(hung.body).toMatchObject({
      code: 'NPU_ERR_INFERENCE_TIMEOUT',
      error: expect.stringMatching(/spin:1 did not finish within its hard limit of 1000 ms/),
    })

    // Until the replacement thread is up the model cannot serve (one instance): a fast 503, never a wait.
    const meanwhile = await infer(worker, 'spin', spinInputs(3, 2))
    if (meanwhile.status !== 200) {
      expect(meanwhile).toMatchObject({ status: 503, body: { code: 'NPU_ERR_MODEL_NOT_READY' } })
    }
    const after = await poller.until(
      (s) => s.body.models[0]?.state === 'ready' && s.body.abandoned_calls!.length > 0,
    )
    // The next request runs on the replacement thread while the abandoned one is still spinning.
    const next = await infer(worker, 'spin', spinInputs(3, 2))
    expect(next.status).toBe(200)
    expect(next.body).toMatchObject({ outputs: [{ name: 'y', data: [5] }] })
    expect(after.body.abandoned_calls).toMatchObject([
      { model: 'spin', version: '1', thread: 'ort:spin:1#0' },
    ])
    expect(after.body.models[0]).toMatchObject({ abandoned_calls: 1, parallelism: { live: 1 } })
    expect(after.body.status).toBe('degraded')
    expect(after.body.message).toContain(
      'native inferences abandoned after their hard limit and still running',
    )

    const samples = await poller.stop()
    for (const sample of samples) expectConsistent(sample)

    // An exit in order would wait for the spinning thread and then abort: the worker drains, unloads, says why,
    // and ends itself with SIGKILL at once.
    const exited = worker.waitForExit()
    worker.process.kill('SIGTERM')
    expect(await exited).toBeNull()
    expect(worker.process.signalCode).toBe('SIGKILL')
    const messages = worker.logLines().map((l) => String(l.msg))
    expect(messages).toContain('draining: finishing in-flight requests')
    expect(
      messages.some((m) =>
        /stopped with 1 native inference\(s\) still stuck: native inference running, killing the process/.test(
          m,
        ),
      ),
    ).toBe(true)
  })
})

describe('a hang on the fake NPU (a request the device never answers)', () => {
  it('is cut at the hard limit (504); the model recycles its requests and serves the next one; /health follows', async () => {
    const dir = repository({
      mlp: {
        manifest: 'devices: [NPU, CPU]\nstatic_shapes: { input: [1, 384] }\ninference_timeout_ms: 1000\n',
      },
    })
    const hooks = {
      fake_openvino: { devices: ['NPU', 'CPU'] },
      // The load-time self-test is the device's first inference; the first request hangs.
      faults: { mlp: { hang: { after: 1, count: 1 } } },
    }
    const worker = await startWorker({
      modelsDir: dir,
      waitFor: 'ready',
      env: { NPU_WORKER_TEST_HOOKS: JSON.stringify(hooks) },
    })
    const poller = new HealthPoller(worker.url)
    await poller.until((s) => s.body.status === 'healthy')
    const hung = await infer(worker, 'mlp', mlpInputs)
    expect(hung.status).toBe(504)
    expect(hung.body).toMatchObject({ code: 'NPU_ERR_INFERENCE_TIMEOUT' })
    // The one infer request of the NPU (LATENCY) was stuck: until it is recycled the model cannot serve, and
    // then it serves again with correct numbers, on the NPU.
    await poller.until((s) => s.body.models[0]?.state === 'ready')
    const next = await infer(worker, 'mlp', mlpInputs)
    expect(next.status).toBe(200)
    expectMlpAnswer(next.body, dir, 'NPU')
    const samples = await poller.stop()
    for (const sample of samples) expectConsistent(sample)
    expect(samples.at(-1)?.body.models[0]).toMatchObject({ backend: 'openvino', device: 'NPU' })
    // Nothing waits forever at shutdown either: an exit in order, or SIGKILL with the reason when a native
    // request is still held.
    const code = await worker.stop()
    if (code !== 0) {
      expect(worker.process.signalCode).toBe('SIGKILL')
      expect(worker.logs()).toMatch(/native inference\(s\) still stuck/)
    }
  })
})

describe('an ONNX Runtime thread that dies, and replacements that fail to start', () => {
  it('fails that request, turns recovering (503 + Retry-After, unhealthy) and serves again by itself', async () => {
    const dir = repository({ mlp: { manifest: 'devices: [CPU]\ninstances: 1\n' } })
    const faults = {
      // The load runs the golden input once (its answer is the reference on ONNX Runtime): the first request is
      // the second inference.
      mlp: { crash_thread: { after: 1, count: 1 }, fail_thread_starts: { after: 1, count: 2 } },
    }
    const worker = await startWorker({
      modelsDir: dir,
      waitFor: 'ready',
      env: { NPU_WORKER_TEST_HOOKS: JSON.stringify({ faults }) },
    })
    const poller = new HealthPoller(worker.url, 20)
    await poller.until((s) => s.body.models[0]?.state === 'ready')

    const crashed = await infer(worker, 'mlp', mlpInputs)
    expect(crashed.status).toBe(500)
    expect(crashed.body).toMatchObject({
      code: 'NPU_ERR_INFERENCE_FAILED',
      error: expect.stringMatching(/died during inference \(exit code 70\)/),
    })

    const recovering = await poller.until((s) => (s.body.models[0]?.recovery?.attempt ?? 0) >= 2)
    expect(recovering.http).toBe(503)
    expect(recovering.body).toMatchObject({ status: 'unhealthy', load: { capacity: 0 } })
    expect(recovering.body.models[0]).toMatchObject({
      state: 'recovering',
      ready: false,
      reason: expect.stringMatching(/could not start: test hook fail_thread_starts/),
    })
    // Refused at once while no thread serves, with when to come back.
    const refused = await infer(worker, 'mlp', mlpInputs)
    if (refused.status === 503) {
      expect(refused.body).toMatchObject({
        code: 'NPU_ERR_MODEL_NOT_READY',
        error: expect.stringMatching(/recovering/),
      })
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
    } else {
      // The recovery won the race with this request: then it is served, correctly.
      expect(refused.status).toBe(200)
    }

    const healed = await poller.until((s) => s.body.models[0]?.state === 'ready')
    expect(healed.body).toMatchObject({ status: 'degraded', load: { capacity: 1 } }) // degraded: ONNX Runtime is a fallback here
    const served = await infer(worker, 'mlp', mlpInputs)
    expect(served.status).toBe(200)
    expectMlpAnswer(served.body, dir, 'CPU')

    const samples = await poller.stop()
    for (const sample of samples) expectConsistent(sample)
    const states = samples.map((s) => s.body.models[0]?.state)
    expect(states.indexOf('recovering')).toBeGreaterThan(states.indexOf('ready'))
    expect(states.lastIndexOf('ready')).toBeGreaterThan(states.indexOf('recovering'))
    expect(await worker.stop()).toBe(0)
  })
})

describe('a fake NPU that starts returning wrong numbers', () => {
  it('goes degraded with reason output drift within one self-test interval, and healthy again when it heals', async () => {
    const dir = repository({ mlp: { manifest: 'devices: [NPU, CPU]\nstatic_shapes: { input: [1, 384] }\n' } })
    const hooks = {
      fake_openvino: { devices: ['NPU', 'CPU'] },
      // The load-time self-test (the first inference on the device) passes; the next two self-tests drift.
      faults: { mlp: { drift: { after: 1, count: 2, offset: 0.5 } } },
    }
    const worker = await startWorker({
      modelsDir: dir,
      waitFor: 'ready',
      env: { NPU_WORKER_TEST_HOOKS: JSON.stringify(hooks), NPU_WORKER_SELF_TEST_INTERVAL_SECONDS: '1' },
    })
    expect(worker.logs()).toContain('TEST HOOKS ENABLED')
    const poller = new HealthPoller(worker.url)
    const healthy = await poller.until((s) => s.body.status === 'healthy')
    expect(healthy.body.models[0]).toMatchObject({
      backend: 'openvino',
      device: 'NPU',
      precision: 'FP16',
      self_test: { result: 'pass', reference: 'onnxruntime_cpu', tolerance: { atol: expect.any(Number) } },
      // instances 2 (the worker default) meets the NPU's one request under LATENCY, and /health says so.
      parallelism: {
        configured: 2,
        loaded: 1,
        live: 1,
        reason: expect.stringMatching(
          /min\(instances, OPTIMAL_NUMBER_OF_INFER_REQUESTS\) = 1 .* LATENCY on NPU/,
        ),
      },
    })
    expect(healthy.body.capabilities).toMatchObject({ device: 'NPU', available: true })
    expect(healthy.body.self_test).toMatchObject({ interval_seconds: 1, passed: 1, drifted: 0 })

    const drifted = await poller.until((s) => s.body.status === 'degraded', 30_000)
    expect(drifted.http).toBe(200)
    expect(drifted.body.models[0]).toMatchObject({
      state: 'degraded',
      ready: true,
      reason: expect.stringMatching(/^output drift: 16 of 16 outputs outside FP16 tolerance/),
      self_test: { result: 'drift', mismatches: 16, elements: 16, max_abs_error: expect.any(Number) },
    })
    expect(drifted.body.models[0]?.self_test?.max_abs_error).toBeCloseTo(0.5, 1)
    expect(drifted.body.self_test).toMatchObject({ drifted: 1, passed: 0 })
    expect(drifted.body.message).toContain('models degraded: mlp:1 (output drift')

    const healed = await poller.until((s) => s.body.status === 'healthy', 30_000)
    expect(healed.body.models[0]).toMatchObject({ state: 'ready', self_test: { result: 'pass' } })
    const samples = await poller.stop()
    for (const sample of samples) expectConsistent(sample)
    expect(worker.logLines().some((l) => l.msg === 'self-test drift' && l.model === 'mlp')).toBe(true)
    expect(await worker.stop()).toBe(0)
  })
})

describe('a registered task that cannot serve', () => {
  it('makes /health degraded and says why, while every model is healthy on the fake NPU', async () => {
    const dir = repository({ 'tiny-bert-embed': {} })
    // The model loads; the task cannot tokenize.
    writeFileSync(join(dir, 'tiny-bert-embed', '1', 'tokenizer.json'), '{ not json')
    const worker = await startWorker({
      modelsDir: dir,
      waitFor: 'ready',
      env: { NPU_WORKER_TEST_HOOKS: JSON.stringify({ fake_openvino: { devices: ['NPU', 'CPU'] } }) },
    })
    const health = HealthResponseSchema.parse(await (await fetch(`${worker.url}/health`)).json())
    expect(health.models[0]).toMatchObject({ state: 'ready', device: 'NPU' })
    expect(health.status).toBe('degraded')
    expect(health.capabilities.tasks).toEqual([])
    // Every task on the embedder (embeddings, its alias embedding_generation, semantic_search) says why.
    expect(health.unavailable_tasks).toEqual(
      ['embedding_generation', 'embeddings', 'semantic_search'].map((type) => ({
        type,
        reason: expect.stringMatching(/^no embeddings model can serve: tiny-bert-embed: .*tokenizer\.json/),
      })),
    )
    expect(health.message).toMatch(/tasks cannot serve: embedding_generation/)
    expect(await worker.stop()).toBe(0)
  })
})

describe('zero-sized and out-of-range dimensions', () => {
  it('are refused with 400 before the fake NPU sees them (it would never settle such a request)', async () => {
    const dir = repository({ mlp: { manifest: 'devices: [NPU, CPU]\nstatic_shapes: { input: [1, 384] }\n' } })
    const worker = await startWorker({
      modelsDir: dir,
      waitFor: 'ready',
      env: { NPU_WORKER_TEST_HOOKS: JSON.stringify({ fake_openvino: { devices: ['NPU'] } }) },
    })
    const zero = await infer(worker, 'mlp', [{ name: 'input', datatype: 'FP32', shape: [0, 384], data: [] }])
    expect(zero.status).toBe(400)
    expect(zero.body).toMatchObject({
      code: 'NPU_ERR_BAD_INFER_REQUEST',
      error: 'inputs[0].shape[0]: dimensions must be at least 1, got 0',
    })
    // The model serves the next valid request at once: nothing was left stuck.
    const ok = await infer(worker, 'mlp', mlpInputs)
    expect(ok.status).toBe(200)
    expectMlpAnswer(ok.body, dir, 'NPU')
    expect(await worker.stop()).toBe(0)
  })
})
