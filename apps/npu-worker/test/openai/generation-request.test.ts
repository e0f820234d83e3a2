// Parsing OpenAI chat and completion bodies: what the worker implements becomes generation input and parameters;
// what it does not is a 400 that names the parameter (never silently ignored); neutral values of unsupported
// parameters (n: 1, logprobs: false, presence_penalty: 0) are accepted.
import { describe, expect, it } from 'vitest'
import { parseChatCompletionRequest, parseCompletionRequest } from '../../src/openai/generation-request.js'

const chat = (extra: Record<string, unknown> = {}) => ({
  model: 'm',
  messages: [{ role: 'user', content: 'hi' }],
  ...extra,
})

describe('parseChatCompletionRequest', () => {
  it('takes messages (text parts joined, developer as system) and the sampling parameters', () => {
    const request = parseChatCompletionRequest(
      chat({
        messages: [
          { role: 'developer', content: 'be brief' },
          {
            role: 'user',
            content: [
              { type: 'text', text: 'a' },
              { type: 'text', text: 'b' },
            ],
          },
        ],
        max_completion_tokens: 9,
        temperature: 0.5,
        top_p: 0.9,
        top_k: 4,
        seed: 3,
        stop: 'END',
        stream: true,
        stream_options: { include_usage: true },
        n: 1,
        logprobs: false,
        presence_penalty: 0,
        user: 'u-1',
      }),
    )
    expect(request).toEqual({
      model: 'm',
      input: {
        kind: 'chat',
        messages: [
          { role: 'system', content: 'be brief' },
          { role: 'user', content: 'a\nb' },
        ],
      },
      parameters: { max_tokens: 9, temperature: 0.5, top_p: 0.9, top_k: 4, seed: 3, stop: ['END'] },
      stream: true,
      includeUsage: true,
      user: 'u-1',
    })
  })

  it.each([
    ['n', { n: 2 }],
    ['tools', { tools: [] }],
    ['tool_choice', { tool_choice: 'auto' }],
    ['response_format', { response_format: { type: 'json_object' } }],
    ['logprobs', { logprobs: true }],
    ['top_logprobs', { top_logprobs: 2 }],
    ['presence_penalty', { presence_penalty: 0.5 }],
    ['frequency_penalty', { frequency_penalty: 1 }],
    ['logit_bias', { logit_bias: { '1': 5 } }],
    ['stream_options', { stream_options: { include_obfuscation: true } }],
    ['audio', { audio: { voice: 'x' } }],
  ])('refuses %s with 400 NPU_ERR_UNSUPPORTED_PARAMETER naming it', (param, extra) => {
    expect(() => parseChatCompletionRequest(chat(extra))).toThrow(
      expect.objectContaining({ code: 'NPU_ERR_UNSUPPORTED_PARAMETER', data: { param }, statusCode: 400 }),
    )
  })

  it('refuses unknown parameters, tool messages and image parts, naming them', () => {
    expect(() => parseChatCompletionRequest(chat({ frobnicate: 1 }))).toThrow(
      expect.objectContaining({ code: 'NPU_ERR_UNSUPPORTED_PARAMETER', data: { param: 'frobnicate' } }),
    )
    expect(() => parseChatCompletionRequest(chat({ messages: [{ role: 'tool', content: 'x' }] }))).toThrow(
      expect.objectContaining({ code: 'NPU_ERR_INVALID_PARAMETER', data: { param: 'messages[0].role' } }),
    )
    expect(() =>
      parseChatCompletionRequest(
        chat({ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: {} }] }] }),
      ),
    ).toThrow(expect.objectContaining({ data: { param: expect.stringMatching(/^messages\[0\]\.content/) } }))
    expect(() =>
      parseChatCompletionRequest(chat({ messages: [{ role: 'user', content: 'x', name: 'n' }] })),
    ).toThrow(
      expect.objectContaining({ code: 'NPU_ERR_UNSUPPORTED_PARAMETER', data: { param: 'messages[0].name' } }),
    )
  })

  it('checks ranges before any queueing, naming the parameter the client sent', () => {
    expect(() => parseChatCompletionRequest(chat({ temperature: 2.5 }))).toThrow(
      expect.objectContaining({ code: 'NPU_ERR_INVALID_PARAMETER', data: { param: 'temperature' } }),
    )
    expect(() => parseChatCompletionRequest(chat({ stop: ['a', 'b', 'c', 'd', 'e'] }))).toThrow(
      expect.objectContaining({ code: 'NPU_ERR_INVALID_PARAMETER', data: { param: 'stop' } }),
    )
    expect(() => parseChatCompletionRequest(chat({ max_completion_tokens: 0 }))).toThrow(
      expect.objectContaining({ data: { param: 'max_completion_tokens' } }),
    )
    expect(() => parseChatCompletionRequest(chat({ max_tokens: 4, max_completion_tokens: 4 }))).toThrow(
      expect.objectContaining({ data: { param: 'max_completion_tokens' } }),
    )
    expect(() => parseChatCompletionRequest(chat({ model: undefined }))).toThrow(
      expect.objectContaining({ data: { param: 'model' } }),
    )
    expect(() => parseChatCompletionRequest([1])).toThrow(
      expect.objectContaining({ code: 'NPU_ERR_MALFORMED_BODY' }),
    )
  })
})

describe('parseCompletionRequest', () => {
  it('takes a prompt (or a list of one) and refuses echo, best_of, suffix and batches', () => {
    expect(parseCompletionRequest({ model: 'm', prompt: ['p'], max_tokens: 3, echo: false }).input).toEqual({
      kind: 'completion',
      prompt: 'p',
    })
    for (const [param, extra] of [
      ['echo', { echo: true }],
      ['best_of', { best_of: 2 }],
      ['suffix', { suffix: 'x' }],
      ['logprobs', { logprobs: 2 }],
    ] as const) {
      expect(() => parseCompletionRequest({ model: 'm', prompt: 'p', ...extra })).toThrow(
        expect.objectContaining({ code: 'NPU_ERR_UNSUPPORTED_PARAMETER', data: { param } }),
      )
    }
    expect(() => parseCompletionRequest({ model: 'm', prompt: ['a', 'b'] })).toThrow(
      expect.objectContaining({ code: 'NPU_ERR_INVALID_PARAMETER', data: { param: 'prompt' } }),
    )
  })
})
