import { cpSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { taskModel } from '../../src/dispatch/routed-needs.js'
import { PoolErrorCode } from '../../src/errors.js'
import { NpuWorkerPool } from '../../src/pool.js'
import { captureLogger, startWorker, type WorkerProcess, waitUntil, workerEntry } from '../helpers/fleet.js'
import {
  LANGUAGE_MODEL,
  type LanguageRepository,
  makeLanguageRepository,
  startLanguageWorker,
} from '../helpers/language-fleet.js'

// A seeds' text task whose input names its model (`model_id`) goes only to workers whose /health lists that
// model as ready, so a worker's 404 NPU_ERR_MODEL_NOT_FOUND for it can only mean its list went stale (retried
// elsewhere, health re-checked: the outcome table's rule). Real workers: `only-chat` serves tiny-llama-chat,
// `both` also a copy of it named tiny-llama-second.

const SECOND = 'tiny-llama-second'
let chatOnly: LanguageRepository
let withSecond: LanguageRepository
let onlyChat: WorkerProcess
let both: WorkerProcess
let pool: NpuWorkerPool

beforeAll(async () => {
  chatOnly = makeLanguageRepository()
  withSecond = makeLanguageRepository()
  cpSync(join(withSecond.dir, LANGUAGE_MODEL), join(withSecond.dir, SECOND), { recursive: true })
  ;[onlyChat, both] = await Promise.all([startLanguageWorker(chatOnly), startLanguageWorker(withSecond)])
  pool = new NpuWorkerPool({
    config: {
      workers: [
        workerEntry('only-chat', onlyChat.url, { priority: 10 }),
        workerEntry('both', both.url, { priority: 5 }),
      ],
      load_balancing: { health_check_interval: 0, health_stale_seconds: 600 },
    },
    logger: captureLogger(),
  })
  await pool.initialize()
})
afterAll(async () => {
  await pool?.close()
  await Promise.all([onlyChat, both].map((w) => w?.stop('SIGKILL')))
  chatOnly?.cleanup()
  withSecond?.cleanup()
})

const requests = () => Object.fromEntries(pool.getWorkers().map((w) => [w.id, w.totalRequests]))

describe('text tasks that name their model', () => {
  it('go to a worker listing the model, past a higher-priority one that does not', async () => {
    const before = requests()
    const r = await pool.executeTask('text_analysis', {
      text: 'Shipment 7 arrived late.',
      model_id: SECOND,
      max_tokens: 6,
    })
    if (!r.success) throw new Error(r.error)
    expect(r).toMatchObject({ workerId: 'both', attempts: 1, model: SECOND })
    expect(requests()['only-chat']).toBe(before['only-chat'])
    // Without a model named, the higher tier takes it as before.
    const plain = await pool.executeTask('text_analysis', { text: 'Shipment 8 is on time.', max_tokens: 6 })
    if (!plain.success) throw new Error(plain.error)
    expect(plain.workerId).toBe('only-chat')
    expect(pool.getStats().byTask).toMatchObject({
      [`task:text_analysis@${SECOND}`]: { started: 1, succeeded: 1, failed: 0, retried: 0 },
      'task:text_analysis': { started: 1, succeeded: 1 },
    })
  })

  it('fail at once with POOL_ERR_UNSUPPORTED naming the model when no worker lists it; nothing is sent', async () => {
    const before = requests()
    const r = await pool.executeTask('chat_inference', {
      messages: [{ role: 'user', content: 'Hello' }],
      model: 'no-such-model',
    })
    expect(r.success).toBe(false)
    if (r.success) return
    expect(r.code).toBe(PoolErrorCode.UNSUPPORTED)
    expect(r.fallback).toBe(true)
    expect(r.error).toContain('task type "chat_inference" with model "no-such-model"')
    expect(requests()).toEqual(before)
    expect(pool.getWorkers().every((w) => w.failures === 0 && w.circuitState === 'closed')).toBe(true)
  })
})

describe('a 404 NPU_ERR_MODEL_NOT_FOUND for the model a text task names', () => {
  it('from a worker whose /health listed it is stale capabilities: retried elsewhere, not held against it, health re-read', async () => {
    // `stale` lists tiny-llama-second at the pool's first check, then restarts on its port without it.
    let stale = await startLanguageWorker(withSecond)
    const p = new NpuWorkerPool({
      config: {
        workers: [workerEntry('stale', stale.url, { priority: 10 }), workerEntry('both', both.url)],
        load_balancing: { health_check_interval: 0, health_stale_seconds: 600 },
      },
      logger: captureLogger(),
    })
    try {
      await p.initialize()
      await stale.stop('SIGKILL')
      stale = await startWorker({
        modelsDir: chatOnly.dir,
        waitFor: 'ready',
        args: ['--port', String(stale.port)],
      })
      const task = { text: 'Shipment 9 is lost.', model_id: SECOND, max_tokens: 4 }
      const r = await p.executeTask('text_analysis', task)
      if (!r.success) throw new Error(r.error)
      expect(r).toMatchObject({ workerId: 'both', attempts: 2 })
      const worker = () => p.getWorkers().find((w) => w.id === 'stale')!
      expect(worker()).toMatchObject({ failures: 0, deferred: 1, circuitState: 'closed' })
      await waitUntil(() => !worker().models.includes(SECOND), 'the pool to re-read its /health')
      const again = await p.executeTask('text_analysis', task)
      expect(again).toMatchObject({ success: true, workerId: 'both', attempts: 1 })
    } finally {
      await p.close()
      await stale.stop('SIGKILL')
    }
  })
})

describe('taskModel', () => {
  it('reads model, else model_id, of the text tasks only; "default" and non-strings are the default', () => {
    expect(taskModel('text_analysis', { text: 'x', model_id: 'a' })).toBe('a')
    expect(taskModel('chat_inference', { model: 'b', model_id: 'a' })).toBe('b')
    expect(taskModel('knowledge_processing', { model: 'default' })).toBeUndefined()
    expect(taskModel('text_analysis', { model_id: 7 })).toBeUndefined()
    expect(taskModel('text_analysis', null)).toBeUndefined()
    expect(taskModel('ocr', { model: 'a' })).toBeUndefined()
  })
})
