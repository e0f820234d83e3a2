import { readdirSync, readFileSync } from 'node:fs'
import { ErrorBodySchema, HealthResponseSchema } from '@npu-fleet/protocol'
import { afterEach, describe, expect, it } from 'vitest'
import { BACKGROUND_THREAD_NICENESS } from '../../src/backends/thread-priority.js'
import { niceOf } from '../helpers/thread-nice.js'
import { makeMlpModelRepository, startWorker, type TempModelRepository } from '../helpers/worker-process.js'
import { addSlowModel, SLOW_MODEL_WIDTH } from './fixtures/slow-model.js'

const repositories: TempModelRepository[] = []
afterEach(() => {
  for (const repository of repositories.splice(0)) repository.cleanup()
})

function mlpAndSlowRepository(): TempModelRepository {
  const repository = makeMlpModelRepository()
  addSlowModel(repository.dir)
  repositories.push(repository)
  return repository
}

async function getJson(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(url)
  return { status: response.status, body: (await response.json()) as Record<string, unknown> }
}

/** Polls until `check` returns a value (not undefined). */
async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

const mlpRequest = {
  inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 384], data: new Array(384).fill(0.5) }],
}

/** An inference that keeps the slow model busy for seconds (about 12 µs per iteration on this machine kind). */
function slowRequest(iterations: number) {
  return {
    inputs: [
      { name: 'n', datatype: 'INT64', shape: [1], data: [iterations] },
      {
        name: 'x',
        datatype: 'FP32',
        shape: [1, SLOW_MODEL_WIDTH],
        data: new Array(SLOW_MODEL_WIDTH).fill(1),
      },
    ],
  }
}

function post(url: string, body: unknown): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
}

describe('worker process lifecycle: starting -> serving -> draining -> exit 0', () => {
  it('tells the truth at every stage', async () => {
    const repository = mlpAndSlowRepository()
    const worker = await startWorker({
      modelsDir: repository.dir,
      env: {
        NPU_WORKER_TEST_HOOKS: '1',
        // Model loading waits this long after listen, so the test can see `starting`.
        NPU_WORKER_TEST_LOAD_DELAY_MS: '2500',
        NPU_WORKER_SHUTDOWN_GRACE_MS: '120000',
      },
      waitFor: 'listening',
    })
    expect(worker.logs()).toContain('TEST HOOKS ENABLED')

    // Starting: the port is bound, health says so with 503, inference is refused with a stable code.
    const starting = await getJson(`${worker.url}/health`)
    expect(starting.status).toBe(503)
    expect(HealthResponseSchema.parse(starting.body).status).toBe('starting')
    expect((await fetch(`${worker.url}/v2/health/live`)).status).toBe(200)
    expect((await fetch(`${worker.url}/v2/health/ready`)).status).toBe(503)
    const refused = await post(`${worker.url}/v2/models/mlp/infer`, mlpRequest)
    expect(refused.status).toBe(503)
    expect(ErrorBodySchema.parse(await refused.json()).code).toBe('NPU_ERR_NOT_SERVING')

    // Serving: no NPU and no OpenVINO runtime here, so the worker is up but honest about it: degraded.
    const ready = await until('/health 200', async () => {
      const health = await getJson(`${worker.url}/health`)
      return health.status === 200 ? health.body : undefined
    })
    const health = HealthResponseSchema.parse(ready)
    expect(health.status).toBe('degraded')
    expect(health.capabilities.device).toBe('CPU')
    expect(health.capabilities.available).toBe(false)
    expect(health.capabilities.backend).toBe('onnxruntime')
    expect(health.capabilities.fallback_reason).toMatch(/^OpenVINO runtime unavailable: /)
    expect(health.capabilities.models).toEqual(['mlp', 'slow'])
    for (const model of health.models) {
      expect(model).toMatchObject({
        state: 'ready',
        ready: true,
        backend: 'onnxruntime',
        device: 'CPU',
        fallback: true,
      })
    }
    expect(health.message).toContain('serving on a fallback')
    if (process.platform === 'linux') {
      // The inference threads run below the event loop, and /health says what the kernel says.
      const inherited = niceOf(readFileSync('/proc/self/stat', 'utf8'))
      const expected = Math.max(inherited, BACKGROUND_THREAD_NICENESS)
      expect(health.thread_priority).toMatchObject({
        state: inherited < BACKGROUND_THREAD_NICENESS ? 'lowered' : 'kept',
        niceness: expected,
        target_niceness: BACKGROUND_THREAD_NICENESS,
        refused_starts: 0,
      })
      const threads = readdirSync(`/proc/${worker.process.pid}/task`).map((tid) =>
        niceOf(readFileSync(`/proc/${worker.process.pid}/task/${tid}/stat`, 'utf8')),
      )
      expect(threads).toContain(expected)
      expect(niceOf(readFileSync(`/proc/${worker.process.pid}/stat`, 'utf8'))).toBe(inherited)
    }
    expect((await fetch(`${worker.url}/v2/health/ready`)).status).toBe(200)
    expect((await post(`${worker.url}/v2/models/mlp/infer`, mlpRequest)).status).toBe(200)

    // Draining: an inference is in flight when SIGTERM arrives; it must finish, new work is refused.
    const inFlight = post(`${worker.url}/v2/models/slow/infer`, slowRequest(400_000))
    await until('the slow inference to be running', async () => {
      const body = HealthResponseSchema.parse((await getJson(`${worker.url}/health`)).body)
      return body.load.active >= 1 ? true : undefined
    })
    worker.process.kill('SIGTERM')
    const draining = await until('/health draining', async () => {
      const current = await getJson(`${worker.url}/health`)
      return current.body.status === 'draining' ? current : undefined
    })
    expect(draining.status).toBe(503)
    const drainingHealth = HealthResponseSchema.parse(draining.body)
    // The slow request is still running while the worker reports draining.
    expect(drainingHealth.load.active).toBe(1)
    const late = await post(`${worker.url}/v2/models/mlp/infer`, mlpRequest)
    expect(late.status).toBe(503)
    expect(ErrorBodySchema.parse(await late.json())).toMatchObject({ code: 'NPU_ERR_NOT_SERVING' })
    expect((await fetch(`${worker.url}/v2/health/ready`)).status).toBe(503)

    const finished = await inFlight
    expect(finished.status).toBe(200)
    const result = (await finished.json()) as {
      model_name: string
      outputs: Array<{ name: string; shape: number[] }>
    }
    expect(result.model_name).toBe('slow')
    expect(result.outputs[0]).toMatchObject({ name: 'y', shape: [1, SLOW_MODEL_WIDTH] })

    expect(await worker.waitForExit()).toBe(0)
    const messages = worker.logLines().map((line) => line.msg)
    expect(messages).toContain('listening')
    expect(messages).toContain('models loaded')
    expect(messages.indexOf('listening')).toBeLessThan(messages.indexOf('models loaded'))
  })

  /** Starts a worker, puts a long inference in flight and sends SIGTERM; resolves once it reports draining. */
  async function drainingWorker(env: Record<string, string>) {
    const repository = mlpAndSlowRepository()
    const worker = await startWorker({ modelsDir: repository.dir, env, waitFor: 'ready' })
    const inFlight = post(`${worker.url}/v2/models/slow/infer`, slowRequest(5_000_000)).catch(() => null)
    await until('the slow inference to be running', async () => {
      const body = HealthResponseSchema.parse((await getJson(`${worker.url}/health`)).body)
      return body.load.active >= 1 ? true : undefined
    })
    worker.process.kill('SIGTERM')
    await until('/health draining', async () => {
      const current = await getJson(`${worker.url}/health`)
      return current.body.status === 'draining' ? true : undefined
    })
    return { worker, inFlight }
  }

  // A busy ONNX Runtime thread cannot be stopped, and an orderly exit would wait for it and then abort:
  // the forced exit is SIGKILL on itself (exit 1 when nothing runs). Either way systemd sees a failure.
  it('a second signal while draining forces an immediate exit', async () => {
    const { worker, inFlight } = await drainingWorker({ NPU_WORKER_SHUTDOWN_GRACE_MS: '120000' })
    worker.process.kill('SIGTERM')
    expect(await worker.waitForExit()).toBeNull()
    expect(worker.process.signalCode).toBe('SIGKILL')
    expect(worker.logs()).toContain('second SIGTERM while draining')
    expect(worker.logs()).not.toContain('terminate called')
    await inFlight
  })

  it('exits forcibly when in-flight work outlasts shutdown_grace_ms', async () => {
    const { worker, inFlight } = await drainingWorker({ NPU_WORKER_SHUTDOWN_GRACE_MS: '300' })
    await worker.waitForExit()
    expect(worker.process.signalCode).toBe('SIGKILL')
    expect(worker.logs()).toContain('in-flight work did not finish within 300 ms')
    await inFlight
  })

  it('a SIGTERM while models are still loading exits 0 without serving', async () => {
    const repository = mlpAndSlowRepository()
    const worker = await startWorker({
      modelsDir: repository.dir,
      env: { NPU_WORKER_TEST_HOOKS: '1', NPU_WORKER_TEST_LOAD_DELAY_MS: '1500' },
      waitFor: 'listening',
    })
    expect((await getJson(`${worker.url}/health`)).body.status).toBe('starting')
    expect(await worker.stop('SIGTERM')).toBe(0)
    const messages = worker.logLines().map((line) => line.msg)
    expect(messages).toContain('stopped')
    expect(messages).not.toContain('models loaded')
  })

  it('exits 0 at once on SIGINT when idle', async () => {
    const repository = makeMlpModelRepository()
    repositories.push(repository)
    const worker = await startWorker({ modelsDir: repository.dir, waitFor: 'ready' })
    expect(await worker.stop('SIGINT')).toBe(0)
  })
})
