import { Writable } from 'node:stream'
import { ErrorBodySchema } from '@npu-fleet/protocol'
import type { FastifyInstance } from 'fastify'
import pino from 'pino'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { buildApp } from '../../src/app.js'
import { resolveWorkerConfig } from '../../src/config.js'
import { ErrBadTaskInput, ErrQueueFull } from '../../src/errors.js'
import { DIST_THREAD_ENTRIES } from '../helpers/thread-entries.js'
import { makeMlpModelRepository, type TempModelRepository } from '../helpers/worker-process.js'

// The error handler's mapping logic, exercised in-process with inject (fastify/demo style); the same shapes
// are checked over HTTP against the real process in http-surface.test.ts.

let repository: TempModelRepository
let app: FastifyInstance
let logLines: Array<Record<string, unknown>>

beforeEach(async () => {
  repository = makeMlpModelRepository()
  logLines = []
  const sink = new Writable({
    write(chunk, _encoding, done) {
      logLines.push(JSON.parse(String(chunk)))
      done()
    },
  })
  app = await buildApp({
    config: resolveWorkerConfig({ models_dir: repository.dir, body_limit_bytes: 2048 }),
    logger: pino({ level: 'info' }, sink),
    threadEntries: DIST_THREAD_ENTRIES,
  })
  // Routes added by the test, after buildApp: they live in the root context, like every route plugin's.
  app.get('/boom', async () => {
    throw new Error('secret detail /etc/shadow')
  })
  app.get('/busy', async () => {
    throw new ErrQueueFull('mlp:1', 64, 2)
  })
  app.get('/bad-task', async () => {
    throw new ErrBadTaskInput('image: expected a base64 string')
  })
  app.get('/teapot', async () => {
    throw Object.assign(new Error('client problem'), { statusCode: 418 })
  })
  app.post(
    '/validated',
    { schema: { body: { type: 'object', required: ['count'], properties: { count: { type: 'integer' } } } } },
    async () => ({ ok: true }),
  )
})

afterEach(async () => {
  await app.close()
  repository.cleanup()
})

describe('buildApp error handler', () => {
  it('unexpected errors: 500 NPU_ERR_INTERNAL, message hidden, stack in the log', async () => {
    const response = await app.inject({ method: 'GET', url: '/boom' })
    expect(response.statusCode).toBe(500)
    expect(ErrorBodySchema.parse(response.json())).toEqual({
      error: 'Internal error',
      code: 'NPU_ERR_INTERNAL',
    })
    expect(response.body).not.toContain('shadow')
    const logged = logLines.find((line) => line.msg === 'unhandled error') as { err?: { stack?: string } }
    expect(logged?.err?.stack).toContain('secret detail /etc/shadow')
  })

  it('NPU_ERR_* errors keep their status and code; Retry-After comes along when set', async () => {
    const busy = await app.inject({ method: 'GET', url: '/busy' })
    expect(busy.statusCode).toBe(503)
    expect(busy.headers['retry-after']).toBe('2')
    expect(busy.json()).toEqual({
      error: 'Model mlp:1 is at capacity (64 queued); retry later',
      code: 'NPU_ERR_QUEUE_FULL',
    })
    const bad = await app.inject({ method: 'GET', url: '/bad-task' })
    expect(bad.statusCode).toBe(400)
    expect(bad.json()).toEqual({ error: 'image: expected a base64 string', code: 'NPU_ERR_BAD_TASK_INPUT' })
  })

  it('other client errors stay 4xx: 400 NPU_ERR_BAD_REQUEST', async () => {
    const response = await app.inject({ method: 'GET', url: '/teapot' })
    expect(response.statusCode).toBe(400)
    expect(response.json()).toEqual({ error: 'Bad request: client problem', code: 'NPU_ERR_BAD_REQUEST' })
  })

  it('schema validation: 400 naming the field', async () => {
    const response = await app.inject({ method: 'POST', url: '/validated', payload: { count: 'many' } })
    expect(response.statusCode).toBe(400)
    const body = ErrorBodySchema.parse(response.json())
    expect(body.code).toBe('NPU_ERR_MALFORMED_BODY')
    expect(body.error).toContain('count')
  })

  it('body limit and content type come from the config', async () => {
    const big = await app.inject({
      method: 'POST',
      url: '/validated',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ count: 1, pad: 'x'.repeat(4096) }),
    })
    expect(big.statusCode).toBe(413)
    expect(big.json()).toEqual({
      error: 'Request body is larger than 2048 bytes',
      code: 'NPU_ERR_PAYLOAD_TOO_LARGE',
    })
    const csv = await app.inject({
      method: 'POST',
      url: '/validated',
      headers: { 'content-type': 'text/csv' },
      payload: 'a,b',
    })
    expect(csv.statusCode).toBe(415)
    expect(csv.json().code).toBe('NPU_ERR_UNSUPPORTED_MEDIA_TYPE')
  })

  it('decorates the config, lifecycle, metrics, registry, scheduler and tasks', async () => {
    await app.ready()
    expect(app.workerConfig.models_dir).toBe(repository.dir)
    expect(app.lifecycle.state).toBe('starting')
    expect(app.registry.names).toEqual(['mlp'])
    expect(app.scheduler.load(app.registry.all())).toEqual({
      active: 0,
      queued: 0,
      capacity: 0,
      queue_capacity: 0,
    })
    expect(app.tasks.available()).toEqual([])
    expect(await app.metrics.registry.metrics()).toContain(
      'npu_worker_model_ready{model="mlp",version="1"} 0',
    )
  })
})
