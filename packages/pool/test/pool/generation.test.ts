import { TextGenerationResultSchema } from '@npu-fleet/protocol'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { isPoolError, PoolErrorCode, StreamInterruptedError } from '../../src/errors.js'
import { NpuWorkerPool } from '../../src/pool.js'
import { NpuTaskQueue } from '../../src/task-queue.js'
import { captureLogger, type WorkerProcess, waitUntil, workerEntry } from '../helpers/fleet.js'
import {
  generationLoad,
  hangHooks,
  LANGUAGE_MODEL,
  type LanguageRepository,
  makeLanguageRepository,
  SELF_TEST_STEPS,
  startLanguageWorker,
} from '../helpers/language-fleet.js'

// Text generation through the pool against real worker processes serving the generated tiny language model
// (random weights: its text is gibberish, but deterministic under greedy decoding, which is what is compared).

let repo: LanguageRepository
let plain: WorkerProcess[]
const pools: NpuWorkerPool[] = []
const extra: WorkerProcess[] = []
const MESSAGES = [{ role: 'user' as const, content: 'Summarise the shipment report.' }]

beforeAll(async () => {
  repo = makeLanguageRepository({ embedder: true })
  plain = await Promise.all([startLanguageWorker(repo), startLanguageWorker(repo), startLanguageWorker(repo)])
})
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()))
  await Promise.all(extra.splice(0).map((w) => w.stop('SIGKILL')))
})
afterAll(async () => {
  await Promise.all((plain ?? []).map((w) => w.stop('SIGKILL')))
  repo?.cleanup()
})

async function poolOver(
  workers: Array<{ id: string; worker: WorkerProcess; priority?: number }>,
  loadBalancing: Record<string, unknown> = {},
  maxConcurrentTasks = 16,
) {
  const p = new NpuWorkerPool({
    config: {
      workers: workers.map((w) =>
        workerEntry(w.id, w.worker.url, {
          priority: w.priority ?? 5,
          max_concurrent_tasks: maxConcurrentTasks,
        }),
      ),
      load_balancing: { health_check_interval: 0, health_stale_seconds: 600, ...loadBalancing },
    },
    logger: captureLogger(),
  })
  pools.push(p)
  await p.initialize()
  return p
}

async function collect(iterable: AsyncIterable<{ choices: Array<{ delta?: { content?: string } }> }>) {
  const pieces: string[] = []
  for await (const chunk of iterable) pieces.push(chunk.choices[0]?.delta?.content ?? '')
  return pieces
}

describe('the seeds task calls', () => {
  it('text_analysis succeeds and says which worker and device answered; the task queue runs it too', async () => {
    const pool = await poolOver([
      { id: 'w0', worker: plain[0]! },
      { id: 'w1', worker: plain[1]! },
    ])
    const r = await pool.executeTask('text_analysis', {
      text: 'Shipment 7 arrived late.',
      model_id: LANGUAGE_MODEL,
      max_tokens: 8,
    })
    if (!r.success) throw new Error(r.error)
    expect(['w0', 'w1']).toContain(r.workerId)
    expect(r).toMatchObject({ model: LANGUAGE_MODEL, backend: 'onnxruntime', device: 'CPU' })
    expect(TextGenerationResultSchema.parse(r.result).usage.completion_tokens).toBeGreaterThan(0)

    const queue = new NpuTaskQueue({ pool })
    const q = await queue.submit_task('text_analysis', { text: 'Shipment 8 arrived.', max_tokens: 4 })
    expect(q.success).toBe(true)

    for (const [type, data] of [
      ['knowledge_processing', { knowledge_data: { shipment: 7, status: 'late' }, max_tokens: 4 }],
      ['chat_inference', { messages: MESSAGES, max_tokens: 4 }],
    ] as const) {
      const t = await pool.executeTask(type, data)
      expect(t.success, `${type}: ${t.success ? '' : t.error}`).toBe(true)
    }
    const embedded = await pool.executeTask('embedding_generation', { input: ['late shipment', 'on time'] })
    if (!embedded.success) throw new Error(embedded.error)
    const vectors = embedded.result.data.map((d) => d.embedding)
    const search = await pool.executeTask('semantic_search', {
      query_text: 'late shipment',
      document_embeddings: vectors,
      top_k: 1,
    })
    if (!search.success) throw new Error(search.error)
    expect(search.result.results[0]?.index).toBe(0)
    const stats = pool.getStats()
    // A task naming its model is routed (and counted) apart: only workers listing that model get it.
    expect(stats.byTask[`task:text_analysis@${LANGUAGE_MODEL}`]).toMatchObject({ started: 1, succeeded: 1 })
    expect(stats.byTask['task:text_analysis']).toMatchObject({ started: 1, succeeded: 1, failed: 0 })
  })

  it('answers the seeds envelope with fallback: true when no worker can run it (a model none lists)', async () => {
    const pool = await poolOver([{ id: 'w0', worker: plain[0]! }])
    const r = await pool.executeTask('text_analysis', { text: 'x', model_id: 'no-such-model' })
    // Routed by the model it names (test/pool/task-model-routing.test.ts): nothing is sent, nothing retried.
    expect(r).toMatchObject({ success: false, fallback: true, code: PoolErrorCode.UNSUPPORTED, attempts: 0 })
    expect(pool.getWorkers()[0]!.totalRequests).toBe(0)
  })
})

describe('streams', () => {
  it('chunks arrive in order and concatenate to the non-streaming answer', async () => {
    const pool = await poolOver([{ id: 'w0', worker: plain[0]! }])
    const whole = await pool.chat(LANGUAGE_MODEL, MESSAGES, { max_tokens: 24 })
    if (!whole.success) throw new Error(whole.error)
    expect(whole).toMatchObject({ workerId: 'w0', backend: 'onnxruntime', device: 'CPU' })
    const chunks: Array<{
      id: string
      choices: Array<{ delta: { content?: string }; finish_reason: string | null }>
    }> = []
    for await (const chunk of pool.stream(LANGUAGE_MODEL, MESSAGES, { max_tokens: 24 })) chunks.push(chunk)
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe(
      whole.result.choices[0]!.message.content,
    )
    expect(new Set(chunks.map((c) => c.id)).size).toBe(1)
    expect(chunks.at(-1)!.choices[0]!.finish_reason).toBe(whole.result.choices[0]!.finish_reason)

    const completion = await pool.complete(LANGUAGE_MODEL, 'Once upon', { max_tokens: 12 })
    if (!completion.success) throw new Error(completion.error)
    let text = ''
    for await (const chunk of pool.streamCompletion(LANGUAGE_MODEL, 'Once upon', { max_tokens: 12 }))
      text += chunk.choices[0]?.text ?? ''
    expect(text).toBe(completion.result.choices[0]!.text)
    const [snapshot] = pool.getWorkers()
    // Every generation counts (two answers, two streams); time to first token is the streams' only.
    expect(snapshot!.generation.completed).toBe(4)
    expect(snapshot!.generation.tokens).toBe(
      2 * (whole.result.usage.completion_tokens + completion.result.usage.completion_tokens),
    )
    expect(snapshot!.generation.timeToFirstTokenMs.samples).toBe(2)
  })

  it('a bad parameter fails naming the field, before anything is sent', async () => {
    const pool = await poolOver([{ id: 'w0', worker: plain[0]! }])
    const r = await pool.chat(LANGUAGE_MODEL, MESSAGES, { max_tokens: -1 })
    expect(r).toMatchObject({ success: false, code: PoolErrorCode.BAD_ARGUMENT, attempts: 0 })
    expect(!r.success && r.error).toContain('max_tokens')
    await expect(collect(pool.stream(LANGUAGE_MODEL, MESSAGES, { top_k: 1.5 }))).rejects.toMatchObject({
      code: PoolErrorCode.BAD_ARGUMENT,
    })
  })

  it('SIGKILL of the chosen worker before the first chunk: the stream completes on another worker', async () => {
    const stuck = await startLanguageWorker(repo, hangHooks(SELF_TEST_STEPS))
    extra.push(stuck)
    const pool = await poolOver([
      { id: 'stuck', worker: stuck, priority: 10 },
      { id: 'w1', worker: plain[1]! },
    ])
    const reference = await poolOver([{ id: 'w1', worker: plain[1]! }])
    const whole = await reference.chat(LANGUAGE_MODEL, MESSAGES, { max_tokens: 16 })
    if (!whole.success) throw new Error(whole.error)
    const pieces = collect(pool.stream(LANGUAGE_MODEL, MESSAGES, { max_tokens: 16 }))
    await waitUntil(
      async () => (await generationLoad(stuck)).active === 1,
      'the stuck worker to hold the stream',
    )
    stuck.process.kill('SIGKILL')
    expect((await pieces).join('')).toBe(whole.result.choices[0]!.message.content)
    const byId = Object.fromEntries(pool.getWorkers().map((w) => [w.id, w]))
    expect(byId.stuck!.failures).toBe(1)
    expect(byId.w1!.successes).toBe(1)
    expect(pool.getStats().attempts.retries).toBe(1)
  })

  it('SIGKILL after the first chunk: POOL_ERR_STREAM_INTERRUPTED with the partial text; the circuit counts it', async () => {
    const stalls = await startLanguageWorker(repo, hangHooks(SELF_TEST_STEPS + 3))
    extra.push(stalls)
    const pool = await poolOver([
      { id: 'stalls', worker: stalls, priority: 10 },
      { id: 'w1', worker: plain[1]! },
    ])
    let seen = ''
    let error: unknown
    try {
      for await (const chunk of pool.stream(LANGUAGE_MODEL, MESSAGES, { max_tokens: 32 })) {
        seen += chunk.choices[0]?.delta.content ?? ''
        if (!stalls.process.killed) stalls.process.kill('SIGKILL')
      }
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(StreamInterruptedError)
    const interrupted = error as StreamInterruptedError
    expect(interrupted.code).toBe(PoolErrorCode.STREAM_INTERRUPTED)
    expect(interrupted.workerId).toBe('stalls')
    expect(interrupted.partialText).toBe(seen)
    const w = pool.getWorkers().find((s) => s.id === 'stalls')!
    expect(w).toMatchObject({ failures: 1, activeTasks: 0 })
    expect(w.generation.interrupted).toBe(1)
    expect(pool.getStats().failuresByCode[PoolErrorCode.STREAM_INTERRUPTED]).toBe(1)
    // Never retried: the other worker got nothing.
    expect(pool.getWorkers().find((s) => s.id === 'w1')!.totalRequests).toBe(0)
  })

  it('a worker silent mid-stream past stream_idle_timeout_seconds counts as failed', async () => {
    const stalls = await startLanguageWorker(repo, hangHooks(SELF_TEST_STEPS + 3))
    extra.push(stalls)
    const pool = await poolOver([{ id: 'stalls', worker: stalls }], { stream_idle_timeout_seconds: 0.5 })
    const error = await collect(pool.stream(LANGUAGE_MODEL, MESSAGES, { max_tokens: 32 })).catch(
      (e: unknown) => e,
    )
    expect(error).toBeInstanceOf(StreamInterruptedError)
    expect((error as StreamInterruptedError).message).toContain('sent nothing')
    expect(pool.getWorkers()[0]!.failures).toBe(1)
  })

  it('leaving the loop cancels the generation: the worker reports its generation load back to 0', async () => {
    const pool = await poolOver([{ id: 'w2', worker: plain[2]! }])
    for await (const _ of pool.stream(LANGUAGE_MODEL, MESSAGES, { max_tokens: 128 })) break
    await waitUntil(
      async () => (await generationLoad(plain[2]!)).active === 0,
      'the worker to free the sequence',
    )
    expect(pool.getWorkers()[0]).toMatchObject({ activeTasks: 0, failures: 0 })
    const aborted = new AbortController()
    const iteration = collect(
      pool.stream(LANGUAGE_MODEL, MESSAGES, { max_tokens: 128, signal: aborted.signal }),
    )
    aborted.abort()
    await expect(iteration).rejects.toSatisfy(
      (e: unknown) => isPoolError(e) && e.code === PoolErrorCode.ABORTED,
    )
    await waitUntil(
      async () => (await generationLoad(plain[2]!)).active === 0,
      'the worker to free the sequence',
    )
  })

  it('a full worker (503 + Retry-After) moves the stream on without counting against it', async () => {
    const single = makeLanguageRepository({
      manifest:
        'devices: [CPU]\ninstances: 1\nthreads: 1\nqueue: { max_queued: 0 }\ngeneration:\n  context_length: 512\n  max_sequences: 1\n  max_new_tokens: 128\n',
    })
    try {
      const full = await startLanguageWorker(single, hangHooks(SELF_TEST_STEPS))
      extra.push(full)
      // Someone else holds its only sequence (the hang keeps it held).
      const holder = fetch(`${full.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: LANGUAGE_MODEL, messages: MESSAGES, stream: true }),
      }).catch(() => null)
      await waitUntil(
        async () => (await generationLoad(full)).active === 1,
        'the holder to take the sequence',
      )
      const pool = await poolOver([
        { id: 'a-full', worker: full, priority: 10 },
        { id: 'w1', worker: plain[1]! },
      ])
      const pieces = await collect(pool.stream(LANGUAGE_MODEL, MESSAGES, { max_tokens: 8 }))
      expect(pieces.join('').length).toBeGreaterThan(0)
      const byId = Object.fromEntries(pool.getWorkers().map((w) => [w.id, w]))
      expect(byId['a-full']).toMatchObject({ deferred: 1, failures: 0, circuitState: 'closed' })
      expect(byId.w1!.successes).toBe(1)
      full.process.kill('SIGKILL')
      await holder
    } finally {
      single.cleanup()
    }
  })

  it('200 concurrent streams over 3 workers all complete', async () => {
    const pool = await poolOver(
      plain.map((worker, i) => ({ id: `w${i}`, worker })),
      { task_timeout_seconds: 300, timeout_seconds: 120 },
      100,
    )
    const texts = await Promise.all(
      Array.from({ length: 200 }, async (_, i) => {
        const content = `request ${i}`
        return (
          await collect(pool.stream(LANGUAGE_MODEL, [{ role: 'user', content }], { max_tokens: 6 }))
        ).join('')
      }),
    )
    expect(texts.every((t) => t.length > 0)).toBe(true)
    const stats = pool.getStats()
    expect(stats.tasks).toMatchObject({ started: 200, succeeded: 200, failed: 0 })
    const workers = pool.getWorkers()
    expect(workers.every((w) => w.successes > 0 && w.failures === 0 && w.deferred === 0)).toBe(true)
  }, 240_000)
})
