// The OpenAI-compatible routes of a real worker process, driven by the official `openai` SDK: chat and
// completions, non-streaming and streaming (the stream concatenates to the answer), embeddings and models; errors
// in OpenAI's shape with the worker's codes; and the scheduling a generation gets: a client that goes away
// mid-stream stops its generation (the slot frees, the tokens stop), a full queue is a 503 with Retry-After, and
// the deadline covers the whole generation (504).
import OpenAI, { APIError } from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { makeLanguageModelRepository, SLOW_LLAMA_DIMS } from '../helpers/language-model-repository.js'
import { startWorker, type TempModelRepository, type WorkerProcess } from '../helpers/worker-process.js'

const CHAT = 'tiny-llama-chat'
const SLOW = 'tiny-llama-slow'

let repo: TempModelRepository
let worker: WorkerProcess
let client: OpenAI

beforeAll(async () => {
  repo = makeLanguageModelRepository({
    copy: [CHAT, 'tiny-bert-embed'],
    build: {
      [SLOW]: {
        dims: SLOW_LLAMA_DIMS,
        // One sequence at a time and one waiting: a third request finds the model full.
        manifest:
          'devices: [CPU]\nthreads: 1\nqueue: { max_queued: 1 }\ngeneration: { context_length: 512, max_sequences: 1 }\n',
      },
    },
  })
  worker = await startWorker({ modelsDir: repo.dir, waitFor: 'ready', timeoutMs: 180_000 })
  client = new OpenAI({ apiKey: 'unused', baseURL: `${worker.url}/v1`, maxRetries: 0, timeout: 120_000 })
}, 240_000)

afterAll(async () => {
  await worker?.stop()
  repo?.cleanup()
})

const messages = [{ role: 'user' as const, content: 'Hello! How does the fleet work?' }]

/** Resolves once `check` holds, polling; the deadline only ever fails a run that would hang. */
async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

async function generationHealth(model: string) {
  const health = (await (await fetch(`${worker.url}/health`)).json()) as {
    models: { name: string; generation?: { active: number; queued: number } | null }[]
  }
  return health.models.find((m) => m.name === model)?.generation
}

/** Tokens the worker generated for `model` so far (`npu_worker_generated_tokens_total`). */
async function generatedTokens(model: string): Promise<number> {
  const text = await (await fetch(`${worker.url}/metrics`)).text()
  const line = text
    .split('\n')
    .find((l) => l.startsWith('npu_worker_generated_tokens_total{') && l.includes(`model="${model}"`))
  return line ? Number(line.split(' ').at(-1)) : 0
}

describe('OpenAI SDK against a real worker', () => {
  it('chat completion: an answer, why it ended, usage, and where it ran', async () => {
    const { data, response } = await client.chat.completions
      .create({ model: CHAT, messages, max_tokens: 24 })
      .withResponse()
    const choice = data.choices[0]
    expect(data.object).toBe('chat.completion')
    expect(choice?.message.role).toBe('assistant')
    expect(choice?.message.content?.length).toBeGreaterThan(0)
    expect(['stop', 'length']).toContain(choice?.finish_reason)
    expect(data.usage?.total_tokens).toBe(
      (data.usage?.prompt_tokens ?? 0) + (data.usage?.completion_tokens ?? 0),
    )
    expect(response.headers.get('x-npu-backend')).toBe('onnxruntime')
    expect(response.headers.get('x-npu-device')).toBe('CPU')
  })

  it('streamed chat: chunks in order that concatenate to the non-streamed answer, then usage', async () => {
    const whole = await client.chat.completions.create({ model: CHAT, messages, max_tokens: 40 })
    const stream = await client.chat.completions.create({
      model: CHAT,
      messages,
      max_tokens: 40,
      stream: true,
      stream_options: { include_usage: true },
    })
    let text = ''
    let finish: string | null = null
    let usage: OpenAI.CompletionUsage | null | undefined
    let roleFirst = false
    let chunks = 0
    for await (const chunk of stream) {
      if (chunks++ === 0) roleFirst = chunk.choices[0]?.delta.role === 'assistant'
      text += chunk.choices[0]?.delta.content ?? ''
      finish = chunk.choices[0]?.finish_reason ?? finish
      if (chunk.usage) usage = chunk.usage
    }
    expect(roleFirst).toBe(true)
    expect(text).toBe(whole.choices[0]?.message.content)
    expect(finish).toBe(whole.choices[0]?.finish_reason)
    expect(usage).toEqual(whole.usage)
  })

  it('completions, non-streaming and streaming, agree; stop strings cut before the match', async () => {
    const prompt = 'The workers of the fleet'
    const whole = await client.completions.create({ model: CHAT, prompt, max_tokens: 32 })
    const answer = whole.choices[0]?.text ?? ''
    expect(whole.object).toBe('text_completion')
    let streamed = ''
    for await (const chunk of await client.completions.create({
      model: CHAT,
      prompt,
      max_tokens: 32,
      stream: true,
    })) {
      streamed += chunk.choices[0]?.text ?? ''
    }
    expect(streamed).toBe(answer)
    const stop = answer.slice(6, 9)
    const cut = await client.completions.create({ model: CHAT, prompt, max_tokens: 32, stop })
    expect(cut.choices[0]?.text).toBe(answer.slice(0, answer.indexOf(stop)))
    expect(cut.choices[0]?.finish_reason).toBe('stop')
  })

  it('the same seed gives the same sampled text', async () => {
    const ask = () =>
      client.chat.completions.create({ model: CHAT, messages, max_tokens: 24, temperature: 0.9, seed: 7 })
    const [a, b] = await Promise.all([ask(), ask()])
    expect(a.choices[0]?.message.content).toBe(b.choices[0]?.message.content)
  })

  it('embeddings (float and the SDK default, base64) and the model list', async () => {
    const float = await client.embeddings.create({
      model: 'tiny-bert-embed',
      input: ['one', 'two'],
      encoding_format: 'float',
    })
    const base64 = await client.embeddings.create({ model: 'tiny-bert-embed', input: ['one', 'two'] })
    expect(float.data).toHaveLength(2)
    expect(float.data[0]?.embedding).toHaveLength(128)
    base64.data.forEach((d, i) => {
      const want = float.data[i]?.embedding ?? []
      for (const [j, v] of d.embedding.entries()) expect(v).toBeCloseTo(want[j] ?? Number.NaN, 6)
    })
    const models = await client.models.list()
    expect(models.data.map((m) => m.id)).toEqual(['tiny-bert-embed', CHAT, SLOW])
    expect((await client.models.retrieve(CHAT)).id).toBe(CHAT)
  })

  it('errors in the shape the SDK parses, with the worker code and the parameter', async () => {
    const refuse = async (request: Promise<unknown>) => {
      const error = await request.then(
        () => null,
        (e: unknown) => e,
      )
      expect(error).toBeInstanceOf(APIError)
      return error as APIError
    }
    const n = await refuse(client.chat.completions.create({ model: CHAT, messages, n: 2 }))
    expect(n).toMatchObject({
      status: 400,
      code: 'NPU_ERR_UNSUPPORTED_PARAMETER',
      param: 'n',
      type: 'invalid_request_error',
    })
    expect(n.message).toMatch(/n: 2 is not supported/)
    const tools = await refuse(
      client.chat.completions.create({
        model: CHAT,
        messages,
        tools: [{ type: 'function', function: { name: 'f', parameters: {} } }],
      }),
    )
    expect(tools).toMatchObject({ status: 400, param: 'tools', code: 'NPU_ERR_UNSUPPORTED_PARAMETER' })
    const logprobs = await refuse(client.chat.completions.create({ model: CHAT, messages, logprobs: true }))
    expect(logprobs).toMatchObject({ status: 400, param: 'logprobs' })
    const range = await refuse(client.chat.completions.create({ model: CHAT, messages, temperature: 3 }))
    expect(range).toMatchObject({ status: 400, code: 'NPU_ERR_INVALID_PARAMETER', param: 'temperature' })
    const context = await refuse(client.completions.create({ model: CHAT, prompt: 'x', max_tokens: 5000 }))
    expect(context).toMatchObject({
      status: 400,
      code: 'NPU_ERR_CONTEXT_LENGTH_EXCEEDED',
      param: 'max_tokens',
    })
    const missing = await refuse(client.chat.completions.create({ model: 'nope', messages }))
    expect(missing).toMatchObject({ status: 404, code: 'NPU_ERR_MODEL_NOT_FOUND' })
    expect(missing.message).toContain(CHAT)
    const embedder = await refuse(client.chat.completions.create({ model: 'tiny-bert-embed', messages }))
    expect(embedder.message).toMatch(/embeddings model; use \/v1\/embeddings/)
    const format = await refuse(
      client.embeddings.create({ model: 'tiny-bert-embed', input: 'x', encoding_format: 'hex' as 'float' }),
    )
    expect(format).toMatchObject({ status: 400, code: 'NPU_ERR_BAD_TASK_INPUT' })
    // Raw: every /v1 OpenAI route answers {"error": {message, type, param, code}}, a mistyped route too.
    const raw = await fetch(`${worker.url}/v1/chat/completion`, { method: 'POST' })
    expect(raw.status).toBe(404)
    expect(await raw.json()).toEqual({
      error: {
        message: expect.any(String),
        type: 'invalid_request_error',
        param: null,
        code: 'NPU_ERR_ROUTE_NOT_FOUND',
      },
    })
  })

  it('a client that goes away mid-stream stops its generation at the next token and frees the slot', async () => {
    const before = await generatedTokens(SLOW)
    const stream = await client.chat.completions.create({
      model: SLOW,
      messages,
      max_tokens: 400,
      stream: true,
    })
    let pieces = 0
    for await (const chunk of stream) {
      if (chunk.choices[0]?.delta.content) pieces++
      if (pieces === 2) break // leaving the loop aborts the request
    }
    await waitFor(async () => (await generationHealth(SLOW))?.active === 0, 'the slot to free')
    // Without the cancellation the worker would have generated all 400 tokens.
    const generated = (await generatedTokens(SLOW)) - before
    expect(generated).toBeGreaterThanOrEqual(2)
    expect(generated).toBeLessThan(400)
    const after = await client.chat.completions.create({ model: SLOW, messages, max_tokens: 2 })
    expect(after.choices[0]?.finish_reason).toBe('length')
  })

  it('a full model answers 503 with Retry-After (one generating, one waiting, the third refused)', async () => {
    const controllers = [new AbortController(), new AbortController()]
    const long = (signal: AbortSignal) =>
      fetch(`${worker.url}/v1/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: SLOW, prompt: 'The fleet', max_tokens: 400 }),
        signal,
      }).catch(() => null)
    const running = controllers.map((c) => long(c.signal))
    await waitFor(async () => {
      const g = await generationHealth(SLOW)
      return g?.active === 1 && g.queued === 1
    }, 'one generating and one waiting')
    const refused = await fetch(`${worker.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: SLOW, prompt: 'The fleet', max_tokens: 4 }),
    })
    expect(refused.status).toBe(503)
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
    expect(await refused.json()).toMatchObject({
      error: { code: 'NPU_ERR_QUEUE_FULL', type: 'server_error' },
    })
    for (const c of controllers) c.abort()
    await Promise.all(running)
    await waitFor(async () => (await generationHealth(SLOW))?.active === 0, 'the model to be idle')
  })

  it('the deadline covers the whole generation: 504, also once the stream has begun', async () => {
    const whole = await fetch(`${worker.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-timeout-ms': '150' },
      body: JSON.stringify({ model: SLOW, prompt: 'The fleet', max_tokens: 400 }),
    })
    expect(whole.status).toBe(504)
    expect(await whole.json()).toMatchObject({ error: { code: 'NPU_ERR_DEADLINE_EXCEEDED' } })
    // The same deadline as the request above, which that 504 just showed 400 tokens outlast on this machine (a
    // longer one let a fast machine finish the stream with [DONE]); the first token comes well before it.
    const streamed = await fetch(`${worker.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-timeout-ms': '150' },
      body: JSON.stringify({ model: SLOW, prompt: 'The fleet', max_tokens: 400, stream: true }),
    })
    const body = await streamed.text()
    // Before the first token it is a plain 504; after, the stream's last event is the error (and no [DONE]).
    if (streamed.status === 504) expect(JSON.parse(body).error.code).toBe('NPU_ERR_DEADLINE_EXCEEDED')
    else {
      expect(streamed.status).toBe(200)
      const last = body.trim().split('\n\n').at(-1) ?? ''
      expect(JSON.parse(last.replace(/^data: /, '')).error.code).toBe('NPU_ERR_DEADLINE_EXCEEDED')
      expect(body).not.toContain('[DONE]')
    }
    await waitFor(async () => (await generationHealth(SLOW))?.active === 0, 'the model to be idle')
  })
})
