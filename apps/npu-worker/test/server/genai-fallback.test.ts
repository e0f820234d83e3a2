// A language model whose model.yaml prefers the NPU, in real worker processes: on the fake OpenVINO GenAI with an
// NPU it generates there (/health healthy, the self-test against the ONNX Runtime reference passed, the NPU's
// limits shown) and a prompt past MAX_PROMPT_LEN is refused with 400; without an NPU it falls back to GenAI on the
// CPU; without the GenAI runtime at all (this machine's real one) the worker lives on and serves the model with
// the ONNX Runtime engine, every skipped step in the fallback chain with its reason.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { makeLanguageModelRepository } from '../helpers/language-model-repository.js'
import { startWorker, type TempModelRepository, type WorkerProcess } from '../helpers/worker-process.js'

const MODEL = 'tiny-llama-npu'
const repo: TempModelRepository = makeLanguageModelRepository({
  build: {
    [MODEL]: {
      irStub: true,
      manifest: [
        'devices: [NPU, CPU]',
        'generation:',
        '  max_sequences: 2',
        '  max_prompt_len: 48',
        '  min_response_len: 64',
        '  generate_hint: BEST_PERF',
        '',
      ].join('\n'),
    },
  },
})
afterAll(() => repo.cleanup())

interface Health {
  status: string
  message: string
  capabilities: { device: string; available: boolean; tasks: string[] }
  models: {
    name: string
    state: string
    backend: string | null
    device: string | null
    fallback: boolean
    fallback_chain: { backend: string; device: string; reason: string }[]
    self_test: { result: string; reference: string | null; message: string | null } | null
    parallelism: { configured: number; loaded: number; live: number; reason: string | null } | null
    generation: Record<string, unknown> | null
  }[]
}

async function health(worker: WorkerProcess): Promise<Health> {
  return (await (await fetch(`${worker.url}/health`)).json()) as Health
}

async function chat(worker: WorkerProcess, content: string, maxTokens = 8) {
  const response = await fetch(`${worker.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: MODEL, messages: [{ role: 'user', content }], max_tokens: maxTokens }),
  })
  return { response, body: (await response.json()) as Record<string, unknown> }
}

const fakeGenai = (devices: string[]) => ({
  NPU_WORKER_TEST_HOOKS: JSON.stringify({ fake_openvino_genai: { devices } }),
})

describe('on (fake) OpenVINO GenAI with an NPU', () => {
  let worker: WorkerProcess
  beforeAll(async () => {
    worker = await startWorker({
      modelsDir: repo.dir,
      env: fakeGenai(['NPU', 'CPU']),
      waitFor: 'ready',
      timeoutMs: 120_000,
    })
  }, 180_000)
  afterAll(async () => {
    await worker?.stop()
  })

  it('generates on the NPU: healthy, self-tested against ONNX Runtime, with the NPU pipeline limits', async () => {
    const report = await health(worker)
    expect(report.status, report.message).toBe('healthy')
    expect(report.capabilities).toMatchObject({ device: 'NPU', available: true })
    const model = report.models.find((m) => m.name === MODEL)
    expect(model).toMatchObject({
      state: 'ready',
      backend: 'openvino',
      device: 'NPU',
      fallback: false,
      fallback_chain: [],
    })
    expect(model?.self_test).toMatchObject({ result: 'pass', reference: 'onnxruntime_cpu' })
    expect(model?.generation).toEqual({
      runtime: 'openvino_genai',
      active: 0,
      queued: 0,
      max_sequences: 1,
      max_queued: 64,
      context_length: 48 + 64,
      max_prompt_tokens: 48,
      default_max_tokens: 111,
    })
    expect(model?.parallelism).toMatchObject({ configured: 2, loaded: 1, live: 1 })
    expect(model?.parallelism?.reason).toMatch(/one sequence at a time on NPU/)
    const { response, body } = await chat(worker, 'Hi')
    expect(response.status).toBe(200)
    expect(response.headers.get('x-npu-device')).toBe('NPU')
    expect(body).toMatchObject({ system_fingerprint: expect.stringMatching(/ openvino\/NPU$/) })
  })

  it('refuses a prompt longer than MAX_PROMPT_LEN with 400 NPU_ERR_PROMPT_TOO_LONG, naming messages', async () => {
    const { response, body } = await chat(worker, 'The workers of the fleet answer every request. '.repeat(8))
    expect(response.status).toBe(400)
    expect(body).toEqual({
      error: {
        message: expect.stringMatching(
          /^messages: the prompt has \d+ tokens; the NPU pipeline takes at most 48 \(MAX_PROMPT_LEN\)/,
        ),
        type: 'invalid_request_error',
        param: 'messages',
        code: 'NPU_ERR_PROMPT_TOO_LONG',
      },
    })
    // The text tasks' prompts are longer than 48 tokens: refused the same way, in the task API's shape.
    const task = await fetch(`${worker.url}/v1/tasks/text_analysis`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text: 'The NPU answered.' }),
    })
    expect(task.status).toBe(400)
    expect(await task.json()).toMatchObject({ code: 'NPU_ERR_PROMPT_TOO_LONG' })
  })
})

describe('on (fake) OpenVINO GenAI without an NPU', () => {
  it('falls back to GenAI on the CPU, saying why', async () => {
    const worker = await startWorker({
      modelsDir: repo.dir,
      env: fakeGenai(['CPU']),
      waitFor: 'ready',
      timeoutMs: 120_000,
    })
    const report = await health(worker)
    const model = report.models.find((m) => m.name === MODEL)
    expect(report.status).toBe('degraded')
    expect(model).toMatchObject({ backend: 'openvino', device: 'CPU', fallback: true })
    expect(model?.fallback_chain).toEqual([
      { backend: 'openvino', device: 'NPU', reason: 'device NPU not present (OpenVINO GenAI devices: CPU)' },
    ])
    expect(model?.generation).toMatchObject({ runtime: 'openvino_genai', max_prompt_tokens: null })
    expect((await chat(worker, 'Hi')).response.headers.get('x-npu-device')).toBe('CPU')
    await worker.stop()
  })
})

describe('without the OpenVINO GenAI runtime (this machine)', () => {
  it('lives on, and serves the model with the ONNX Runtime engine, each skipped step with its reason', async () => {
    const worker = await startWorker({ modelsDir: repo.dir, waitFor: 'ready', timeoutMs: 120_000 })
    const report = await health(worker)
    const model = report.models.find((m) => m.name === MODEL)
    expect(report.status).toBe('degraded')
    expect(report.message).toContain(`serving on a fallback: ${MODEL}:1 on onnxruntime/CPU`)
    expect(model).toMatchObject({ state: 'ready', backend: 'onnxruntime', device: 'CPU', fallback: true })
    const missing =
      /^OpenVINO GenAI runtime unavailable: openvino-genai-node cannot be loaded: its native addon .* is missing/
    expect(model?.fallback_chain).toEqual([
      { backend: 'openvino', device: 'NPU', reason: expect.stringMatching(missing) },
      { backend: 'openvino', device: 'CPU', reason: expect.stringMatching(missing) },
    ])
    expect(model?.generation).toMatchObject({
      runtime: 'onnxruntime',
      max_sequences: 2,
      max_prompt_tokens: null,
    })
    expect(model?.self_test).toMatchObject({ result: 'pass', reference: 'onnxruntime_cpu' })
    const { response } = await chat(worker, 'Hi')
    expect(response.status).toBe(200)
    expect(response.headers.get('x-npu-backend')).toBe('onnxruntime')
    expect(worker.process.exitCode).toBeNull()
    await worker.stop()
  })
})
