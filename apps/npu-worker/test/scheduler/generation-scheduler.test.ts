// Admission control and deadlines of text generation, on a scripted generator (logic only): slots and a bounded
// queue with 503 + Retry-After beyond them, one deadline for the whole generation (waiting included), a client
// that goes away, and every generator failure as the worker's stable error naming its parameter.
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { GenerationError } from '../../src/generation/text-generator.js'
import { GeneratorRegistry } from '../../src/models/generator-registry.js'
import { ModelManifestSchema } from '../../src/models/model-manifest.js'
import { GenerationScheduler } from '../../src/scheduler/generation-scheduler.js'
import { ScriptedGenerationBackend, type ScriptedGenerator } from '../helpers/scripted-generator.js'

async function loadedModel(maxSequences: number, maxQueued: number, stepMs = 1) {
  const dir = mkdtempSync(join(tmpdir(), 'generation-scheduler-'))
  writeFileSync(join(dir, 'model.onnx'), '')
  const available = { available: true, version: null, devices: ['CPU'], error: null }
  const onnxruntime = new ScriptedGenerationBackend('onnxruntime', 'onnxruntime', available)
  const genai = new ScriptedGenerationBackend('openvino', 'openvino_genai', {
    ...available,
    available: false,
    error: 'none',
  })
  const registry = new GeneratorRegistry({
    specs: [
      {
        name: 'llm',
        version: '1',
        manifest: ModelManifestSchema.parse({
          devices: ['CPU'],
          queue: { max_queued: maxQueued },
          generation: { max_sequences: maxSequences },
        }),
        modelPath: join(dir, 'model.onnx'),
        modelDir: dir,
      },
    ],
    backends: { genai, onnxruntime },
    defaults: {
      threads: 1,
      instances: 1,
      instanceIdleTimeoutMs: null,
      queueMaxQueued: 64,
      performanceHint: 'LATENCY',
      inferTimeoutMs: 1000,
    },
    cacheDir: null,
    log: pino({ level: 'silent' }),
  })
  await registry.loadAll()
  const model = registry.all()[0]!
  const generator = model.ready() as ScriptedGenerator
  ;(generator as { stepMs: number }).stepMs = stepMs
  return { model, generator }
}

const input = { kind: 'completion' as const, prompt: 'abcdefghijklmnopqrstuvwxyz' }

describe('GenerationScheduler', () => {
  it('runs up to max_sequences, queues up to queue.max_queued, and refuses beyond with 503 + Retry-After', async () => {
    const { model } = await loadedModel(1, 1, 20)
    const scheduler = new GenerationScheduler({ defaultMaxQueued: 64 })
    const run = () => scheduler.run(model, input, { max_tokens: 10 }, { deadlineMs: 60_000 })
    const first = run()
    const second = run()
    expect(scheduler.load([model])).toEqual({ active: 1, queued: 1, capacity: 1, queue_capacity: 1 })
    await expect(run()).rejects.toMatchObject({
      code: 'NPU_ERR_QUEUE_FULL',
      statusCode: 503,
      data: { retryAfterSeconds: expect.any(Number) },
    })
    const [a, b] = await Promise.all([first, second])
    expect(a.result).toMatchObject({ text: 'zyxwvutsrq', finish_reason: 'length' })
    expect(b.result.text).toBe(a.result.text)
    expect(scheduler.active([model])).toBe(0)
  })

  it('the deadline covers the whole generation, waiting included: 504', async () => {
    const { model } = await loadedModel(1, 4, 20)
    const scheduler = new GenerationScheduler({ defaultMaxQueued: 64 })
    const long = scheduler.run(model, input, { max_tokens: 26 }, { deadlineMs: 60_000 })
    await expect(scheduler.run(model, input, { max_tokens: 2 }, { deadlineMs: 30 })).rejects.toMatchObject({
      code: 'NPU_ERR_DEADLINE_EXCEEDED',
      statusCode: 504,
    })
    await expect(scheduler.run(model, input, { max_tokens: 26 }, { deadlineMs: 100 })).rejects.toMatchObject({
      code: 'NPU_ERR_DEADLINE_EXCEEDED',
    })
    await long
  })

  it('a client that goes away cancels (499-like, never sent), and streams what came before', async () => {
    const { model } = await loadedModel(2, 2, 5)
    const scheduler = new GenerationScheduler({ defaultMaxQueued: 64 })
    const controller = new AbortController()
    const pieces: string[] = []
    const run = scheduler.run(
      model,
      input,
      { max_tokens: 26 },
      {
        deadlineMs: 60_000,
        signal: controller.signal,
        onChunk: ({ text }) => {
          pieces.push(text)
          if (pieces.length === 3) controller.abort()
        },
      },
    )
    await expect(run).rejects.toMatchObject({ code: 'NPU_ERR_CANCELLED' })
    expect(pieces.join('')).toBe('zyx')
    await expect(
      scheduler.run(model, input, {}, { deadlineMs: 1000, signal: AbortSignal.abort() }),
    ).rejects.toMatchObject({ code: 'NPU_ERR_CANCELLED' })
  })

  it("maps the generator's failures onto stable errors naming the parameter", async () => {
    const { model, generator } = await loadedModel(1, 1)
    const scheduler = new GenerationScheduler({ defaultMaxQueued: 64 })
    const cases: [GenerationError, Record<string, unknown>][] = [
      [
        new GenerationError('invalid_parameter', 'top_p: bad', 'top_p'),
        { code: 'NPU_ERR_INVALID_PARAMETER', data: { param: 'top_p' }, statusCode: 400 },
      ],
      [
        new GenerationError('context_length_exceeded', 'max_tokens: too many', 'max_tokens'),
        { code: 'NPU_ERR_CONTEXT_LENGTH_EXCEEDED', data: { param: 'max_tokens' } },
      ],
      [
        new GenerationError('prompt_too_long', 'prompt: too long', 'prompt'),
        { code: 'NPU_ERR_PROMPT_TOO_LONG', data: { param: 'prompt' } },
      ],
      [
        new GenerationError('template_failed', 'refused', 'messages'),
        { code: 'NPU_ERR_TEMPLATE_FAILED', data: { param: 'messages' } },
      ],
      [new GenerationError('step_timeout', 'stuck'), { code: 'NPU_ERR_INFERENCE_TIMEOUT', statusCode: 504 }],
      [
        new GenerationError('engine_failed', 'thread died'),
        { code: 'NPU_ERR_INFERENCE_FAILED', statusCode: 500 },
      ],
      [new GenerationError('unavailable', 'unloaded'), { code: 'NPU_ERR_MODEL_NOT_READY', statusCode: 503 }],
    ]
    for (const [error, expected] of cases) {
      generator.failWith = error
      await expect(scheduler.run(model, input, {}, { deadlineMs: 1000 })).rejects.toMatchObject(expected)
    }
  })
})
