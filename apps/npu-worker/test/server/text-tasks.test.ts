// The backend's text tasks on a real worker process, through `POST /v1/tasks/{type}` and the old `POST /inference`:
// the language-model tasks answer what the chat route answers for the same prompt (so the configured prompt is the
// one used), `embedding_generation` is `embeddings`, `semantic_search` ranks by cosine similarity with the served
// embedder's query vector, and `text_classification` scores a generated classifier's logits as ONNX Runtime does.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import ort from 'onnxruntime-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SentenceTokenizer } from '../../src/tasks/embeddings/sentence-tokenizer.js'
import { makeLanguageModelRepository } from '../helpers/language-model-repository.js'
import { buildTinyClassifierFiles, TINY_CLASSIFIER_LABELS } from '../helpers/tiny-classifier.js'
import {
  makeMlpModelRepository,
  startWorker,
  type TempModelRepository,
  type WorkerProcess,
} from '../helpers/worker-process.js'

const CHAT = 'tiny-llama-chat'
let repo: TempModelRepository
let worker: WorkerProcess

const PROMPT = 'Describe this in one line: {text}'
const SYSTEM = 'You answer in one line.'

beforeAll(async () => {
  repo = makeLanguageModelRepository({
    copy: [CHAT, 'tiny-bert-embed'],
    files: {
      'tiny-classifier': buildTinyClassifierFiles(
        'devices: [CPU]\nclassification: { sequence_length: 32 }\n',
      ),
    },
  })
  const config = join(repo.dir, 'worker.yaml')
  writeFileSync(
    config,
    `generation_tasks:\n  text_analysis:\n    system: "${SYSTEM}"\n    prompt: "${PROMPT}"\n    max_tokens: 12\n`,
  )
  worker = await startWorker({
    modelsDir: repo.dir,
    args: ['--config', config],
    waitFor: 'ready',
    timeoutMs: 180_000,
  })
}, 240_000)

afterAll(async () => {
  await worker?.stop()
  repo?.cleanup()
})

// biome-ignore lint/suspicious/noExplicitAny: the JSON bodies under test, read field by field
type Json = any

async function post(path: string, body: unknown): Promise<{ status: number; body: Record<string, Json> }> {
  const response = await fetch(`${worker.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
  return { status: response.status, body: (await response.json()) as Record<string, Json> }
}

async function chatText(messages: { role: string; content: string }[], maxTokens: number): Promise<string> {
  const { body } = await post('/v1/chat/completions', { model: CHAT, messages, max_tokens: maxTokens })
  return body.choices[0].message.content
}

describe('language-model tasks', () => {
  it("text_analysis, the seeds' call: the configured prompt, the envelope naming model and device", async () => {
    const text = 'The NPU fleet answered 1000 requests on Monday.'
    const { status, body } = await post('/v1/tasks/text_analysis', { text, model_id: 'default' })
    expect(status).toBe(200)
    expect(body).toMatchObject({
      success: true,
      task: 'text_analysis',
      model: CHAT,
      backend: 'onnxruntime',
      device: 'CPU',
    })
    expect(body.result).toMatchObject({ finish_reason: 'length', usage: { completion_tokens: 12 } })
    const expected = await chatText(
      [
        { role: 'system', content: SYSTEM },
        { role: 'user', content: PROMPT.replace('{text}', text) },
      ],
      12,
    )
    expect(body.result.text).toBe(expected)
    expect(body.result.usage.total_tokens).toBe(body.result.usage.prompt_tokens + 12)
  })

  it('knowledge_processing renders structured data as JSON into its default prompt', async () => {
    const data = { fleet: 'npu', workers: [1, 2] }
    const { status, body } = await post('/v1/tasks/knowledge_processing', {
      knowledge_data: data,
      max_tokens: 6,
    })
    expect(status).toBe(200)
    expect(body.result.usage.completion_tokens).toBe(6)
    const viaInference = await post('/inference', {
      task_type: 'knowledge_processing',
      input_data: { knowledge_data: data, max_tokens: 6 },
    })
    expect(viaInference.body.result).toEqual(body.result)
  })

  it('chat_inference takes messages or a prompt (one user message); /inference takes a bare prompt', async () => {
    const messages = [{ role: 'user', content: 'Hello there' }]
    const withMessages = await post('/v1/tasks/chat_inference', { messages, max_tokens: 8 })
    expect(withMessages.body.result.text).toBe(await chatText(messages, 8))
    const withPrompt = await post('/v1/tasks/chat_inference', { prompt: 'Hello there', max_tokens: 8 })
    expect(withPrompt.body.result).toEqual(withMessages.body.result)
    const legacy = await post('/inference', {
      task_type: 'chat_inference',
      model_name: CHAT,
      input_data: 'Hello there',
    })
    expect(legacy.status).toBe(200)
    expect(legacy.body.result.usage.prompt_tokens).toBe(withPrompt.body.result.usage.prompt_tokens)
  })

  it('refuses bad input naming the field, and an unknown model with the models there are', async () => {
    const both = await post('/v1/tasks/chat_inference', {
      prompt: 'x',
      messages: [{ role: 'user', content: 'x' }],
    })
    expect(both).toMatchObject({ status: 400, body: { code: 'NPU_ERR_BAD_TASK_INPUT' } })
    const unknown = await post('/v1/tasks/text_analysis', { text: 'x', temperature: 1 })
    expect(unknown.status).toBe(400)
    expect(unknown.body.error).toMatch(/temperature/)
    const model = await post('/v1/tasks/text_analysis', { text: 'x', model: 'nope' })
    expect(model).toMatchObject({ status: 404, body: { code: 'NPU_ERR_MODEL_NOT_FOUND' } })
    expect(model.body.error).toContain(CHAT)
  })
})

describe('embedding tasks', () => {
  it('embedding_generation is embeddings', async () => {
    const a = await post('/v1/tasks/embedding_generation', { input: ['one', 'two'] })
    const b = await post('/v1/tasks/embeddings', { input: ['one', 'two'] })
    expect(a.status).toBe(200)
    expect(a.body.result).toEqual(b.body.result)
    const legacy = await post('/inference', { task_type: 'embedding_generation', input_data: ['one', 'two'] })
    expect(legacy.body.result).toEqual(b.body.result)
  })

  it('semantic_search ranks documents by cosine similarity with the query, keeping their metadata', async () => {
    const documents = ['the fleet of workers', 'a recipe for bread', 'workers in the npu fleet']
    const embedded = await post('/v1/embeddings', { input: documents, input_type: 'query' })
    const vectors: number[][] = embedded.body.data.map((d: { embedding: number[] }) => d.embedding)
    const { status, body } = await post('/v1/tasks/semantic_search', {
      query_text: documents[2],
      document_embeddings: vectors,
      document_metadata: documents.map((text, id) => ({ id, text })),
      top_k: 2,
      similarity_threshold: -1,
    })
    expect(status).toBe(200)
    expect(body.result.model).toBe('tiny-bert-embed')
    expect(body.result.results).toHaveLength(2)
    // The query is document 2 embedded the same way: it is its own best match.
    expect(body.result.results[0]).toEqual({
      index: 2,
      similarity: expect.closeTo(1, 5),
      metadata: { id: 2, text: documents[2] },
    })
    expect(body.result.results[0].similarity).toBeGreaterThanOrEqual(body.result.results[1].similarity)
    const none = await post('/v1/tasks/semantic_search', {
      query_text: documents[2],
      document_embeddings: vectors,
      similarity_threshold: 1,
    })
    expect(none.body.result.results.every((r: { similarity: number }) => r.similarity >= 1 - 1e-6)).toBe(true)
  })

  it('semantic_search refuses a dimension mismatch and uneven metadata, naming the field', async () => {
    const mismatch = await post('/v1/tasks/semantic_search', {
      query_text: 'q',
      document_embeddings: [[1, 2, 3]],
    })
    expect(mismatch).toMatchObject({ status: 400, body: { code: 'NPU_ERR_BAD_TASK_INPUT' } })
    expect(mismatch.body.error).toMatch(
      /^document_embeddings\[0\]: 3 dimensions; the query embedding has 128/,
    )
    const vector = new Array(128).fill(0.1)
    const metadata = await post('/v1/tasks/semantic_search', {
      query_text: 'q',
      document_embeddings: [vector],
      document_metadata: [1, 2],
    })
    expect(metadata.body.error).toMatch(/^document_metadata: 2 entries for 1 document_embeddings/)
  })
})

describe('text_classification', () => {
  it("scores every label as softmax of the classifier's own logits, best label first", async () => {
    const texts = [
      'the fleet works well',
      'a short one',
      'workers of the npu fleet answer every request quickly',
    ]
    const { status, body } = await post('/v1/tasks/text_classification', { text: texts })
    expect(status).toBe(200)
    expect(body.model).toBe('tiny-classifier')
    // The reference: each text alone through ONNX Runtime (no padding), softmax in float64.
    const tokenizer = SentenceTokenizer.fromFile(join(repo.dir, 'tiny-classifier', '1', 'tokenizer.json'))
    const session = await ort.InferenceSession.create(join(repo.dir, 'tiny-classifier', '1', 'model.onnx'))
    for (const [i, text] of texts.entries()) {
      const ids = tokenizer.encode(text, 32).ids
      const feeds = {
        input_ids: new ort.Tensor('int64', BigInt64Array.from(ids, BigInt), [1, ids.length]),
        attention_mask: new ort.Tensor(
          'int64',
          BigInt64Array.from(ids, () => 1n),
          [1, ids.length],
        ),
      }
      const logits = Array.from((await session.run(feeds)).logits?.data as Float32Array)
      const exps = logits.map((x) => Math.exp(x - Math.max(...logits)))
      const probabilities = exps.map((e) => e / exps.reduce((a, b) => a + b, 0))
      const result = body.result.results[i]
      result.scores.forEach((s: { label: string; score: number }, j: number) => {
        expect(s.label).toBe(TINY_CLASSIFIER_LABELS[j])
        expect(s.score).toBeCloseTo(probabilities[j] as number, 5)
      })
      const best = probabilities.indexOf(Math.max(...probabilities))
      expect(result.label).toBe(TINY_CLASSIFIER_LABELS[best])
    }
    await session.release()
  })
})

describe('a worker without language models', () => {
  it('does not register the text tasks: 404 listing what exists, never made-up text', async () => {
    const mlp = makeMlpModelRepository()
    const plain = await startWorker({ modelsDir: mlp.dir, waitFor: 'ready' })
    const response = await fetch(`${plain.url}/v1/tasks/text_analysis`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text: 'x' }),
    })
    expect(response.status).toBe(404)
    expect(await response.json()).toMatchObject({
      code: 'NPU_ERR_TASK_NOT_FOUND',
      details: { available: [] },
    })
    const chat = await fetch(`${plain.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: CHAT, messages: [{ role: 'user', content: 'x' }] }),
    })
    expect(chat.status).toBe(404)
    expect(((await chat.json()) as { error: { code: string } }).error.code).toBe('NPU_ERR_MODEL_NOT_FOUND')
    await plain.stop()
    mlp.cleanup()
  })
})
