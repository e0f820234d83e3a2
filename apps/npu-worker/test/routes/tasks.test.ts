import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  EmbeddingsResponseSchema,
  type ErrorBody,
  ErrorBodySchema,
  HealthResponseSchema,
  LegacyEmbeddingResponseSchema,
  OcrResultSchema,
  OpenAiErrorBodySchema,
  TaskResponseSchema,
} from '@npu-fleet/protocol'
import sharp from 'sharp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { GENERATED_MODELS_DIR, startWorker, type WorkerProcess } from '../helpers/worker-process.js'

// The task routes against real worker processes with the default repository: /v1/tasks/{type} (JSON and
// raw image bodies), the OpenAI /v1/embeddings, and the routes of the system this replaces
// (/embedding/generate, /inference), each with its errors. A second worker whose embedding model cannot
// load proves that a failure is an error status, never a made-up vector with 200.

const TOKEN = 'task-routes-test-token'
let worker: WorkerProcess
let broken: WorkerProcess
let brokenRepo: string
let png: Buffer

beforeAll(async () => {
  brokenRepo = mkdtempSync(join(tmpdir(), 'npu-tasks-broken-'))
  cpSync(join(GENERATED_MODELS_DIR, 'tiny-bert-embed'), join(brokenRepo, 'tiny-bert-embed'), {
    recursive: true,
  })
  writeFileSync(join(brokenRepo, 'tiny-bert-embed', '1', 'model.onnx'), 'not an onnx model')
  cpSync(join(GENERATED_MODELS_DIR, 'mlp'), join(brokenRepo, 'mlp'), { recursive: true })
  ;[worker, broken] = await Promise.all([
    startWorker({ waitFor: 'ready', env: { NPU_WORKER_TOKEN: TOKEN } }),
    startWorker({ modelsDir: brokenRepo, waitFor: 'ready' }),
  ])
  png = await sharp({
    text: {
      text: '<span foreground="black">Shipment 7 arrived</span>',
      font: 'DejaVu Sans 26',
      dpi: 96,
      rgba: true,
    },
  })
    .flatten({ background: '#ffffff' })
    .extend({ top: 24, bottom: 24, left: 24, right: 24, background: '#ffffff' })
    .png()
    .toBuffer()
})

afterAll(async () => {
  await Promise.all([worker?.stop(), broken?.stop()])
  rmSync(brokenRepo, { recursive: true, force: true })
})

async function call(
  path: string,
  body: unknown,
  options: { contentType?: string; target?: WorkerProcess; auth?: boolean } = {},
) {
  const target = options.target ?? worker
  const headers: Record<string, string> = { 'content-type': options.contentType ?? 'application/json' }
  if (options.auth !== false && target === worker) headers.authorization = `Bearer ${TOKEN}`
  const res = await fetch(`${target.url}${path}`, {
    method: 'POST',
    headers,
    body: Buffer.isBuffer(body) || typeof body === 'string' ? body : JSON.stringify(body),
  })
  return { status: res.status, body: (await res.json()) as Record<string, unknown> }
}

const expectError = (
  res: { status: number; body: unknown },
  status: number,
  code: string,
  message?: RegExp,
) => {
  expect(res.status).toBe(status)
  // The OpenAI route /v1/embeddings answers in OpenAI's error shape; the others in the worker's own.
  const body = res.body as { error?: unknown }
  const error =
    typeof body.error === 'object'
      ? (({ error: e }): ErrorBody => ({ error: e.message, code: e.code }))(
          OpenAiErrorBodySchema.parse(res.body),
        )
      : ErrorBodySchema.parse(res.body)
  expect(error.code).toBe(code)
  if (message) expect(error.error).toMatch(message)
  return error
}

/** The task types of the default repository: OCR, the embedder's three, and the language model's three. */
const DEFAULT_TASKS = [
  'chat_inference',
  'embedding_generation',
  'embeddings',
  'knowledge_processing',
  'ocr',
  'semantic_search',
  'text_analysis',
]

describe('POST /v1/tasks/{type}', () => {
  it('lists the tasks in /health', async () => {
    const health = HealthResponseSchema.parse(await (await fetch(`${worker.url}/health`)).json())
    expect(health.capabilities.tasks).toEqual(DEFAULT_TASKS)
  })

  it('reads text from a raw image/png body and from base64 JSON alike', async () => {
    const raw = await call('/v1/tasks/ocr', png, { contentType: 'image/png' })
    expect(raw.status).toBe(200)
    const envelope = TaskResponseSchema.parse(raw.body)
    expect(envelope).toMatchObject({
      success: true,
      task: 'ocr',
      model: 'ppocr-rec',
      backend: 'onnxruntime',
      device: 'CPU',
    })
    const result = OcrResultSchema.parse(envelope.result)
    expect(result.lines.map((l) => l.text)).toEqual(['Shipment 7 arrived'])
    const json = await call('/v1/tasks/ocr', { image: `data:image/png;base64,${png.toString('base64')}` })
    expect(OcrResultSchema.parse(TaskResponseSchema.parse(json.body).result)).toEqual(result)
  })

  it('answers 404 with the available types for an unknown task, and 400 for a bad type or body', async () => {
    const unknown = expectError(
      await call('/v1/tasks/translate', {}),
      404,
      'NPU_ERR_TASK_NOT_FOUND',
      new RegExp(`available: ${DEFAULT_TASKS.join(', ')}`),
    )
    expect(unknown.details).toEqual({ available: DEFAULT_TASKS })
    expectError(await call('/v1/tasks/NOT..valid', {}), 400, 'NPU_ERR_BAD_TASK_INPUT', /^type: /)
    expectError(await call('/v1/tasks/ocr', {}), 400, 'NPU_ERR_BAD_TASK_INPUT', /image/)
    expectError(await call('/v1/tasks/ocr', '[1,2]'), 400, 'NPU_ERR_MALFORMED_BODY')
    expectError(await call('/v1/tasks/ocr', '{"image":'), 400, 'NPU_ERR_MALFORMED_BODY')
    expectError(
      await call('/v1/tasks/embeddings', png, { contentType: 'image/png' }),
      415,
      'NPU_ERR_UNSUPPORTED_MEDIA_TYPE',
    )
    expectError(
      await call('/v1/tasks/ocr', png, { contentType: 'image/gif' }),
      415,
      'NPU_ERR_UNSUPPORTED_MEDIA_TYPE',
      /accepted: application\/json, image\/png/,
    )
    expectError(
      await call('/v1/tasks/ocr', Buffer.from('not an image'), { contentType: 'image/png' }),
      400,
      'NPU_ERR_BAD_IMAGE',
    )
  })

  it('requires the bearer token when one is configured', async () => {
    expectError(
      await call('/v1/tasks/ocr', png, { contentType: 'image/png', auth: false }),
      401,
      'NPU_ERR_UNAUTHORIZED',
    )
    expectError(await call('/v1/embeddings', { input: 'x' }, { auth: false }), 401, 'NPU_ERR_UNAUTHORIZED')
  })
})

describe('POST /v1/embeddings (OpenAI-compatible)', () => {
  it('answers the OpenAI shape, and the same vectors as base64 float32 when asked', async () => {
    const res = await call('/v1/embeddings', {
      input: ['first text', 'second text'],
      model: 'tiny-bert-embed',
    })
    expect(res.status).toBe(200)
    const body = EmbeddingsResponseSchema.parse(res.body)
    expect(body.model).toBe('tiny-bert-embed')
    expect(body.data.map((d) => d.index)).toEqual([0, 1])
    expect(body.usage.prompt_tokens).toBeGreaterThan(4)
    for (const d of body.data) expect(Math.hypot(...d.embedding)).toBeCloseTo(1, 5)
    const b64 = await call('/v1/embeddings', {
      input: ['first text', 'second text'],
      encoding_format: 'base64',
    })
    const data = (b64.body as { data: Array<{ embedding: string }> }).data
    data.forEach((d, i) => {
      const bytes = Buffer.from(d.embedding, 'base64')
      const vector = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4)
      expect([...vector]).toEqual(body.data[i]?.embedding.map(Math.fround))
    })
    // The task route serves the same pipeline.
    const task = TaskResponseSchema.parse((await call('/v1/tasks/embeddings', { input: 'first text' })).body)
    expect(EmbeddingsResponseSchema.parse(task.result).data[0]?.embedding).toEqual(body.data[0]?.embedding)
  })

  it('names the field of a bad request', async () => {
    expectError(
      await call('/v1/embeddings', { input: 'x', encoding_format: 'hex' }),
      400,
      'NPU_ERR_BAD_TASK_INPUT',
      /^encoding_format/,
    )
    expectError(
      await call('/v1/embeddings', { input: 'x', dimensions: 64 }),
      400,
      'NPU_ERR_BAD_TASK_INPUT',
      /^dimensions/,
    )
    expectError(await call('/v1/embeddings', { input: 42 }), 400, 'NPU_ERR_BAD_TASK_INPUT', /input/)
    expectError(await call('/v1/embeddings', ['x']), 400, 'NPU_ERR_MALFORMED_BODY')
    expectError(
      await call('/v1/embeddings', { input: 'x', model: 'no-such-model' }),
      404,
      'NPU_ERR_MODEL_NOT_FOUND',
    )
  })
})

describe('routes of the replaced system', () => {
  it('POST /embedding/generate takes a bare array and answers its old shape', async () => {
    const res = await call('/embedding/generate?model_name=tiny-bert-embed', ['alpha', 'beta', 'gamma'])
    expect(res.status).toBe(200)
    const body = LegacyEmbeddingResponseSchema.parse(res.body)
    expect(body).toMatchObject({ model_used: 'tiny-bert-embed', texts_processed: 3, device: 'CPU' })
    expect(body.embeddings).toHaveLength(3)
    const openai = EmbeddingsResponseSchema.parse(
      (await call('/v1/embeddings', { input: ['alpha', 'beta', 'gamma'] })).body,
    )
    expect(body.embeddings).toEqual(openai.data.map((d) => d.embedding))
    expectError(
      await call('/embedding/generate', { texts: ['a'] }),
      400,
      'NPU_ERR_MALFORMED_BODY',
      /JSON array of strings/,
    )
    expectError(
      await call('/embedding/generate', ['a', 7]),
      400,
      'NPU_ERR_BAD_TASK_INPUT',
      /^\[1\]: expected a string/,
    )
    expectError(await call('/embedding/generate', []), 400, 'NPU_ERR_BAD_TASK_INPUT')
    expectError(await call('/embedding/generate?model_name=nope', ['a']), 404, 'NPU_ERR_MODEL_NOT_FOUND')
  })

  it('POST /inference dispatches to the same pipelines', async () => {
    const ocr = await call('/inference', { task_type: 'ocr', input_data: { image: png.toString('base64') } })
    expect(ocr.status).toBe(200)
    const text = OcrResultSchema.parse(TaskResponseSchema.parse(ocr.body).result).lines.map((l) => l.text)
    expect(text).toEqual(['Shipment 7 arrived'])
    const emb = await call('/inference', {
      task_type: 'embeddings',
      model_name: 'tiny-bert-embed',
      input_data: ['one', 'two'],
    })
    expect(EmbeddingsResponseSchema.parse(TaskResponseSchema.parse(emb.body).result).data).toHaveLength(2)
    expectError(
      await call('/inference', { task_type: 'summarize', input_data: {} }),
      404,
      'NPU_ERR_TASK_NOT_FOUND',
    )
    expectError(
      await call('/inference', { task_type: 'ocr', model_name: 'tiny-bert-embed', input_data: {} }),
      404,
      'NPU_ERR_MODEL_NOT_FOUND',
    )
    expectError(await call('/inference', { input_data: {} }), 400, 'NPU_ERR_BAD_TASK_INPUT', /task_type/)
    expectError(await call('/inference', { task_type: 'ocr' }), 400, 'NPU_ERR_BAD_TASK_INPUT', /^input_data/)
  })
})

describe('no placeholder output, ever', () => {
  it('answers 503 (never a made-up vector) when the embedding model failed to load', async () => {
    const health = HealthResponseSchema.parse(await (await fetch(`${broken.url}/health`)).json())
    expect(health.status).toBe('degraded')
    expect(health.capabilities.tasks).toEqual([])
    // The operator is told why the task is missing, not left to notice it.
    expect(
      broken.logLines().some((l) => String(l.msg).startsWith('task unavailable') && l.task === 'embeddings'),
    ).toBe(true)
    for (const [path, body] of [
      ['/v1/embeddings', { input: 'hello' }],
      ['/embedding/generate', ['hello']],
      ['/v1/tasks/embeddings', { input: 'hello' }],
      ['/inference', { task_type: 'embeddings', input_data: ['hello'] }],
    ] as const) {
      const res = await call(path, body, { target: broken })
      expectError(res, 503, 'NPU_ERR_MODEL_NOT_READY')
      expect(JSON.stringify(res.body)).not.toMatch(/embedding"/)
    }
    expectError(
      await call('/v1/tasks/ocr', { image: 'aGVsbG8=' }, { target: broken }),
      404,
      'NPU_ERR_TASK_NOT_FOUND',
      /available: none/,
    )
  })
})
