import { ChatCompletionChunkSchema, CompletionChunkSchema } from '@npu-fleet/protocol'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { fastChunk } from '../../src/generation/chunk-shape.js'
import { readEvent } from '../../src/generation/stream-chunks.js'

// The hand-written chunk check against the protocol schemas it copies: the same verdict and the same output on
// chunks that are valid, nearly valid (one field off) and arbitrary JSON, all as JSON.parse would give them.
const anything = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.constantFrom(0, -1, 1.5, 2 ** 53, Number.MAX_SAFE_INTEGER, 1e300),
  fc.integer(),
  fc.double(),
  fc.string({ maxLength: 4 }),
  fc.constantFrom('assistant', 'user', 'stop', 'length', 'chat.completion.chunk', 'text_completion'),
  fc.constant([]),
  fc.constant({}),
  fc.jsonValue({ maxDepth: 2 }),
)
/** A valid value most of the time, else anything at all. */
const mostly = <T>(valid: fc.Arbitrary<T>) =>
  fc.oneof({ weight: 6, arbitrary: valid }, { weight: 1, arbitrary: anything })
const count = fc.oneof(fc.nat(), fc.constantFrom(0, Number.MAX_SAFE_INTEGER))
const extra = fc.dictionary(fc.constantFrom('extra', 'n', 'logprob', 'tool_calls', 'refusal'), anything, {
  maxKeys: 2,
})
const finishReason = fc.constantFrom(null, 'stop', 'length')
const usage = fc.oneof(
  fc.constant(null),
  fc.record(
    { prompt_tokens: mostly(count), completion_tokens: mostly(count), total_tokens: mostly(count) },
    { requiredKeys: [] },
  ),
)
const chatChoice = fc.record(
  {
    index: mostly(count),
    delta: mostly(
      fc.record(
        { role: mostly(fc.constant('assistant')), content: mostly(fc.string()) },
        { requiredKeys: [] },
      ),
    ),
    finish_reason: mostly(finishReason),
    logprobs: mostly(fc.constant(null)),
  },
  { requiredKeys: ['index', 'delta', 'finish_reason', 'logprobs'] },
)
const completionChoice = fc.record(
  {
    index: mostly(count),
    text: mostly(fc.string()),
    finish_reason: mostly(finishReason),
    logprobs: mostly(fc.constant(null)),
  },
  { requiredKeys: ['index', 'text', 'finish_reason', 'logprobs'] },
)
const chunkOf = (object: string, choice: fc.Arbitrary<unknown>) =>
  fc
    .tuple(
      fc.record(
        {
          id: mostly(fc.string()),
          created: mostly(fc.integer({ min: 0, max: 2 ** 40 })),
          model: mostly(fc.string()),
          system_fingerprint: mostly(fc.oneof(fc.constant(null), fc.string())),
          object: mostly(fc.constant(object)),
          choices: mostly(fc.array(mostly(choice), { maxLength: 2 })),
          usage: mostly(usage),
        },
        { requiredKeys: ['id', 'created', 'model', 'object', 'choices'] },
      ),
      extra,
      fc.boolean(),
    )
    // Unknown keys before or after the known ones: the output's order must not follow the input's.
    .map(([known, more, first]) =>
      JSON.parse(JSON.stringify(first ? { ...more, ...known } : { ...known, ...more })),
    )

const kinds = [
  { kind: 'chat', schema: ChatCompletionChunkSchema, chunks: chunkOf('chat.completion.chunk', chatChoice) },
  { kind: 'completion', schema: CompletionChunkSchema, chunks: chunkOf('text_completion', completionChoice) },
] as const

describe.each(kinds)('fastChunk ($kind) against the protocol schema', ({ kind, schema, chunks }) => {
  const agrees = (body: unknown) => {
    const reference = schema.safeParse(body)
    const fast = fastChunk(kind, body, true)
    expect(fast !== null).toBe(reference.success)
    if (fast === null || !reference.success) return
    // Same values, same keys in the same order.
    expect(fast).toStrictEqual(reference.data)
    expect(JSON.stringify(fast)).toBe(JSON.stringify(reference.data))
    // Without usage asked for, the same less `usage` on chunks with choices (the usage chunk keeps it).
    const trimmed = structuredClone(reference.data) as Record<string, unknown> & { choices: unknown[] }
    if (trimmed.choices.length > 0) delete trimmed.usage
    expect(JSON.stringify(fastChunk(kind, body, false))).toBe(JSON.stringify(trimmed))
  }

  it('accepts and rejects what the schema does, with the same output, on generated chunks', () => {
    let accepted = 0
    let rejected = 0
    fc.assert(
      fc.property(chunks, (body) => {
        agrees(body)
        if (schema.safeParse(body).success) accepted++
        else rejected++
      }),
      { numRuns: 3000 },
    )
    // The generator reaches both sides often (a property that only ever rejected would prove nothing).
    expect(accepted).toBeGreaterThan(300)
    expect(rejected).toBeGreaterThan(300)
  })

  it('agrees on arbitrary JSON', () => {
    fc.assert(fc.property(fc.jsonValue(), agrees), { numRuns: 1000 })
  })

  it('agrees on the shapes JSON.parse makes that generators miss', () => {
    const valid = JSON.parse(
      JSON.stringify(fc.sample(chunks, { numRuns: 200, seed: 7 }).find((c) => schema.safeParse(c).success)),
    )
    const text = JSON.stringify(valid)
    for (const body of [
      JSON.parse(`{"__proto__":{"id":"x"},${text.slice(1)}`),
      JSON.parse(text.replace(/"created":\d+/, '"created":1e400')),
      JSON.parse(text.replace(/"created":\d+/, '"created":-0')),
      JSON.parse(text.replace(/"created":\d+/, '"created":9007199254740992')),
      { ...valid, choices: {} },
      { ...valid, usage: [] },
      [],
      'chunk',
    ])
      agrees(body)
  })
})

describe('fastChunk', () => {
  it('returns a worker-shaped chunk itself (no copy per token) and copies one with other keys or order', () => {
    const body = () => ({
      id: 'chatcmpl-1',
      created: 1,
      model: 'm',
      system_fingerprint: 'npu-worker/1.0.0 onnxruntime/CPU',
      object: 'chat.completion.chunk',
      choices: [
        { index: 0, delta: { role: 'assistant', content: 'hi' }, finish_reason: null, logprobs: null },
      ],
      usage: null,
    })
    const same = body()
    expect(fastChunk('chat', same, true)).toBe(same)
    const { usage: _, ...rest } = body()
    expect(fastChunk('chat', rest, false)).toBe(rest)
    // Asked without usage, a chunk carrying `usage: null` is copied without it; so is one with an extra key.
    expect(fastChunk('chat', same, false)).not.toBe(same)
    const extra = { ...body(), extra: 1 }
    expect(fastChunk('chat', extra, true)).toStrictEqual(body())
    const reordered = {
      ...body(),
      choices: [
        { delta: { content: 'hi', role: 'assistant' }, index: 0, finish_reason: null, logprobs: null },
      ],
    }
    expect(JSON.stringify(fastChunk('chat', reordered, true))).toBe(JSON.stringify(body()))
  })
})

describe('readEvent', () => {
  const chunk = {
    id: 'chatcmpl-1',
    created: 1,
    model: 'm',
    object: 'chat.completion.chunk',
    choices: [{ index: 0, delta: { content: 'hi' }, finish_reason: null, logprobs: null }],
    usage: null,
  }

  it('reads a chunk, [DONE], the worker error event, and names the field of a broken chunk', () => {
    expect(readEvent('chat', JSON.stringify(chunk), true)).toStrictEqual({ kind: 'chunk', chunk })
    const { usage: _, ...withoutUsage } = chunk
    expect(readEvent('chat', JSON.stringify(chunk), false)).toStrictEqual({
      kind: 'chunk',
      chunk: withoutUsage,
    })
    expect(readEvent('chat', '[DONE]', true)).toStrictEqual({ kind: 'done' })
    expect(
      readEvent('chat', JSON.stringify({ error: 'boom', code: 'NPU_ERR_GENERATION_FAILED' }), true),
    ).toMatchObject({ kind: 'error', code: 'NPU_ERR_GENERATION_FAILED', message: 'boom' })
    expect(readEvent('chat', '{"id":', true)).toStrictEqual({
      kind: 'invalid',
      message: 'an event of the stream is not JSON',
    })
    const broken = { ...chunk, choices: [{ ...chunk.choices[0], index: -1 }] }
    const event = readEvent('chat', JSON.stringify(broken), true)
    expect(event.kind).toBe('invalid')
    expect(event.kind === 'invalid' && event.message).toMatch(
      /^an event of the stream is not a chat chunk: choices\[0\]\.index: /,
    )
    // A completion chunk is not a chat chunk.
    const completion = {
      ...chunk,
      object: 'text_completion',
      choices: [{ index: 0, text: 'hi', finish_reason: null, logprobs: null }],
    }
    expect(readEvent('chat', JSON.stringify(completion), true).kind).toBe('invalid')
    expect(readEvent('completion', JSON.stringify(completion), true).kind).toBe('chunk')
  })
})
