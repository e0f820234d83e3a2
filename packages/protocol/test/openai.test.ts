import { describe, expect, it } from 'vitest'
import {
  ChatCompletionChunkSchema,
  ChatCompletionRequestSchema,
  ChatCompletionSchema,
  ChatInferenceInputSchema,
  CompletionRequestSchema,
  HealthResponseSchema,
  ModelListSchema,
  OpenAiErrorBodySchema,
  openAiErrorType,
  SemanticSearchInputSchema,
  TextAnalysisInputSchema,
} from '../src/index.js'

const header = {
  id: 'chatcmpl-1',
  created: 1_796_000_000,
  model: 'm',
  system_fingerprint: 'npu-worker/1.0.0 onnxruntime/CPU',
}
const usage = { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 }

describe('OpenAI schemas', () => {
  it('requests are strict: an unknown or unimplemented parameter does not pass', () => {
    const chat = { model: 'm', messages: [{ role: 'user', content: 'hi' }] }
    expect(
      ChatCompletionRequestSchema.parse({
        ...chat,
        n: 1,
        stream: true,
        stream_options: { include_usage: true },
      }),
    ).toBeTruthy()
    expect(ChatCompletionRequestSchema.safeParse({ ...chat, tools: [] }).success).toBe(false)
    expect(ChatCompletionRequestSchema.safeParse({ ...chat, n: 2 }).success).toBe(false)
    expect(
      ChatCompletionRequestSchema.safeParse({ ...chat, messages: [{ role: 'tool', content: 'x' }] }).success,
    ).toBe(false)
    expect(CompletionRequestSchema.safeParse({ model: 'm', prompt: ['a', 'b'] }).success).toBe(false)
    expect(CompletionRequestSchema.parse({ model: 'm', prompt: 'p', echo: false }).prompt).toBe('p')
  })

  it('answers, chunks and the model list in OpenAI shapes', () => {
    expect(
      ChatCompletionSchema.parse({
        ...header,
        object: 'chat.completion',
        choices: [
          { index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop', logprobs: null },
        ],
        usage,
      }).choices[0]?.message.content,
    ).toBe('ok')
    const chunk = { ...header, object: 'chat.completion.chunk', usage: null }
    expect(
      ChatCompletionChunkSchema.parse({
        ...chunk,
        choices: [
          { index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null, logprobs: null },
        ],
      }),
    ).toBeTruthy()
    expect(ChatCompletionChunkSchema.parse({ ...chunk, choices: [], usage }).usage).toEqual(usage)
    expect(
      ChatCompletionChunkSchema.safeParse({
        ...chunk,
        choices: [{ index: 0, delta: {}, finish_reason: 'cancelled', logprobs: null }],
      }).success,
    ).toBe(false)
    expect(
      ModelListSchema.parse({
        object: 'list',
        data: [{ id: 'm', object: 'model', created: 1, owned_by: 'npu-worker' }],
      }).data,
    ).toHaveLength(1)
  })

  it('errors: OpenAI kinds by status, the worker code in `code`', () => {
    expect([400, 401, 404, 503, 504].map(openAiErrorType)).toEqual([
      'invalid_request_error',
      'authentication_error',
      'invalid_request_error',
      'server_error',
      'server_error',
    ])
    const body = {
      error: {
        message: 'n: 2',
        type: 'invalid_request_error',
        param: 'n',
        code: 'NPU_ERR_UNSUPPORTED_PARAMETER',
      },
    }
    expect(OpenAiErrorBodySchema.parse(body)).toEqual(body)
    expect(
      OpenAiErrorBodySchema.safeParse({ error: { ...body.error, code: 'model_not_found' } }).success,
    ).toBe(false)
  })
})

describe('text task inputs', () => {
  it("take the seeds' fields and refuse unknown ones", () => {
    expect(TextAnalysisInputSchema.parse({ text: 't', model_id: 'default' })).toEqual({
      text: 't',
      model_id: 'default',
    })
    expect(TextAnalysisInputSchema.safeParse({ text: 't', temperature: 1 }).success).toBe(false)
    expect(
      ChatInferenceInputSchema.safeParse({ prompt: 'p', messages: [{ role: 'user', content: 'x' }] }).success,
    ).toBe(false)
    expect(ChatInferenceInputSchema.safeParse({}).success).toBe(false)
    expect(SemanticSearchInputSchema.parse({ query_text: 'q', document_embeddings: [[1]] })).toMatchObject({
      top_k: 5,
      similarity_threshold: 0,
    })
  })
})

describe('/health of a language model', () => {
  it('carries its generation limits and load, and load.generation', () => {
    const health = HealthResponseSchema.parse({
      status: 'degraded',
      service: 'npu-worker',
      version: '1.0.0',
      capabilities: {
        device: 'CPU',
        available: false,
        backend: 'onnxruntime',
        devices: ['CPU'],
        fallback_reason: 'x',
        openvino: { loaded: false, version: null, error: 'x' },
        tasks: ['text_analysis'],
        models: ['llm'],
      },
      models: [
        {
          name: 'llm',
          version: '1',
          state: 'ready',
          ready: true,
          backend: 'onnxruntime',
          device: 'CPU',
          preferred_device: 'NPU',
          fallback: true,
          fallback_chain: [],
          error: null,
          generation: {
            runtime: 'onnxruntime',
            active: 1,
            queued: 0,
            max_sequences: 4,
            max_queued: 64,
            context_length: 512,
            max_prompt_tokens: null,
            default_max_tokens: 128,
          },
        },
      ],
      load: {
        active: 0,
        queued: 0,
        capacity: 0,
        queue_capacity: 0,
        generation: { active: 1, queued: 0, capacity: 4, queue_capacity: 64 },
      },
      uptime_seconds: 1,
    })
    expect(health.models[0]?.generation?.max_sequences).toBe(4)
    expect(health.load.generation?.capacity).toBe(4)
  })
})
