import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { promtool } from '../../../../apps/npu-worker/test/helpers/promtool.js'
import { StreamInterruptedError } from '../../src/errors.js'
import { NpuWorkerPool } from '../../src/pool.js'
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

// The generation metrics against real worker processes serving the tiny language model: per need started,
// succeeded, failed and retried (the byTask counters of getStats()), per worker time to first token, tokens
// generated, generations finished and streams interrupted (getWorkers().generation), all clean under promtool.

const MESSAGES = [{ role: 'user' as const, content: 'Summarise the shipment report.' }]
let repo: LanguageRepository
let plain: WorkerProcess
let stuck: WorkerProcess
let stalls: WorkerProcess
let pool: NpuWorkerPool

beforeAll(async () => {
  repo = makeLanguageRepository()
  // `stuck` never sends a first chunk (its stream is retried elsewhere); `stalls` sends a few, then is killed.
  ;[plain, stuck, stalls] = await Promise.all([
    startLanguageWorker(repo),
    startLanguageWorker(repo, hangHooks(SELF_TEST_STEPS)),
    startLanguageWorker(repo, hangHooks(SELF_TEST_STEPS + 3)),
  ])
  pool = new NpuWorkerPool({
    config: {
      workers: [
        workerEntry('stuck', stuck.url, { priority: 10 }),
        workerEntry('stalls', stalls.url, { priority: 9 }),
        workerEntry('plain', plain.url, { priority: 5 }),
      ],
      load_balancing: { health_check_interval: 0, health_stale_seconds: 600 },
    },
    logger: captureLogger(),
  })
  await pool.initialize()

  // 1. A stream that `stuck` holds before its first chunk: SIGKILL, retried on `stalls`, which stalls after a
  //    few chunks and is SIGKILLed too: POOL_ERR_STREAM_INTERRUPTED.
  const first = (async () => {
    try {
      for await (const _ of pool.stream(LANGUAGE_MODEL, MESSAGES, { max_tokens: 32 }))
        if (!stalls.process.killed) stalls.process.kill('SIGKILL')
    } catch (error) {
      return error
    }
    return null
  })()
  await waitUntil(async () => (await generationLoad(stuck)).active === 1, 'the stuck worker to hold it')
  stuck.process.kill('SIGKILL')
  expect(await first).toBeInstanceOf(StreamInterruptedError)
  // 2. Both are gone now: a stream, a chat and a text task on `plain`.
  for await (const _ of pool.stream(LANGUAGE_MODEL, MESSAGES, { max_tokens: 12 })) {
  }
  const chat = await pool.chat(LANGUAGE_MODEL, MESSAGES, { max_tokens: 10 })
  if (!chat.success) throw new Error(chat.error)
  const task = await pool.executeTask('text_analysis', { text: 'Shipment 7 arrived late.', max_tokens: 6 })
  if (!task.success) throw new Error(task.error)
})
afterAll(async () => {
  await pool?.close()
  await Promise.all([plain, stuck, stalls].map((w) => w?.stop('SIGKILL')))
  repo?.cleanup()
})

/** The value of one series (`name{labels}`), or undefined. */
function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

describe('generation metrics', () => {
  it('count per need what getStats().byTask counts: started, succeeded, failed, retried', async () => {
    const text = (await pool.metrics()).body
    const byTask = pool.getStats().byTask
    // Two streams and a chat; the interrupted one failed after its retry (the later ones may retry past the
    // dead workers too, until their health says so).
    expect(byTask[`chat:${LANGUAGE_MODEL}`]).toMatchObject({ started: 3, succeeded: 2, failed: 1 })
    expect(byTask[`chat:${LANGUAGE_MODEL}`]!.retried).toBeGreaterThanOrEqual(1)
    for (const [need, counts] of Object.entries(byTask))
      for (const field of ['started', 'succeeded', 'failed', 'retried'] as const)
        expect(value(text, `npu_pool_task_type_${field}_total{need="${need}"}`)).toBe(counts[field])
    expect(value(text, 'npu_pool_task_type_started_total{need="task:text_analysis"}')).toBe(1)
  })

  it('count per worker what getWorkers().generation counts: tokens, generations, interrupted streams', async () => {
    const text = (await pool.metrics()).body
    const byId = Object.fromEntries(pool.getWorkers().map((w) => [w.id, w.generation]))
    // The stream, the chat and the text task finished on `plain`; the broken stream on `stalls`.
    expect(byId.plain).toMatchObject({ completed: 3, interrupted: 0 })
    expect(byId.stalls).toMatchObject({ completed: 0, interrupted: 1, tokens: 0 })
    expect(byId.plain!.tokens).toBeGreaterThan(0)
    for (const [worker, g] of Object.entries(byId)) {
      expect(value(text, `npu_pool_worker_generated_tokens_total{worker="${worker}"}`)).toBe(g!.tokens)
      expect(value(text, `npu_pool_worker_generations_completed_total{worker="${worker}"}`)).toBe(
        g!.completed,
      )
      expect(value(text, `npu_pool_worker_streams_interrupted_total{worker="${worker}"}`)).toBe(
        g!.interrupted,
      )
    }
  })

  it('have a time-to-first-token histogram per worker, of the streams that had a first chunk', async () => {
    const text = (await pool.metrics()).body
    const series = (worker: string, suffix: string) =>
      value(text, `npu_pool_worker_time_to_first_token_seconds_${suffix}{worker="${worker}"}`)
    expect(series('stuck', 'count')).toBe(0)
    expect(series('stalls', 'count')).toBe(1)
    expect(series('plain', 'count')).toBe(1)
    expect(value(text, 'npu_pool_worker_time_to_first_token_seconds_bucket{worker="plain",le="+Inf"}')).toBe(
      1,
    )
    expect(series('plain', 'sum')).toBeGreaterThan(0)
  })

  it('are clean under promtool check metrics', async () => {
    const run = await promtool(['check', 'metrics'], (await pool.metrics()).body)
    expect(run.output.trim()).toBe('')
    expect(run.code).toBe(0)
  })
})
