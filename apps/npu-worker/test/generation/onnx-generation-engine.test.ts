// The ONNX Runtime generation engine on the generated tiny-llama-chat model, with real ONNX Runtime in its
// worker thread: greedy decoding equals full recompute, seeds reproduce, stop strings cut exactly, streams
// concatenate to the answer, continuous batching changes nothing, cancellation frees slots, and a hung or
// crashed step is recovered.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import * as ort from 'onnxruntime-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { streamGeneration } from '../../src/generation/generation-stream.js'
import type { OnnxGenerationEngine } from '../../src/generation/onnx-generation-engine.js'
import {
  GenerationError,
  type GenerationInput,
  type GenerationParameters,
  type GenerationResult,
} from '../../src/generation/text-generator.js'
import { TextTokenizer } from '../../src/generation/text-tokenizer.js'
import {
  buildTinyLlamaFiles,
  buildTinyLlamaModel,
  TINY_LLAMA_DIMS,
  TINY_LLAMA_SEED,
  tinyLlamaLogitBias,
  trainTinyLlamaTokenizer,
} from '../../src/models/tiny-llama-model.js'
import { llama2StyleTokenizer, SENTENCEPIECE_TOKENIZER_CONFIG } from './fixtures/sentencepiece-tokenizer.js'
import {
  isWellFormed,
  startTinyEngine,
  TINY_DIR,
  TINY_FILES,
  TINY_TOKENIZER,
  waitFor,
  writeTinyLlama,
} from './generation-harness.js'

const EOS = new Set([509, 511])
const chat = (content: string): GenerationInput => ({ kind: 'chat', messages: [{ role: 'user', content }] })
const completion = (prompt: string): GenerationInput => ({ kind: 'completion', prompt })

/** Greedy generation by full recompute: the whole sequence through the model at every step, no cache. */
async function greedyByRecompute(
  promptIds: readonly number[],
  maxTokens: number,
  model = join(TINY_DIR, '1', 'model.onnx'),
  eos: ReadonlySet<number> = EOS,
): Promise<number[]> {
  const session = await ort.InferenceSession.create(model, { intraOpNumThreads: 1 })
  const { layers, kvHeads, headDim } = TINY_LLAMA_DIMS
  const ids = [...promptIds]
  const generated: number[] = []
  try {
    while (generated.length < maxTokens) {
      const i64 = (values: number[]) =>
        new ort.Tensor('int64', BigInt64Array.from(values, BigInt), [1, values.length])
      const feeds: Record<string, ort.Tensor> = {
        input_ids: i64(ids),
        attention_mask: i64(ids.map(() => 1)),
        position_ids: i64(ids.map((_, i) => i)),
      }
      for (let l = 0; l < layers; l++) {
        for (const kind of ['key', 'value']) {
          feeds[`past_key_values.${l}.${kind}`] = new ort.Tensor('float32', new Float32Array(0), [
            1,
            kvHeads,
            0,
            headDim,
          ])
        }
      }
      const logits = (await session.run(feeds)).logits as ort.Tensor
      const vocab = logits.dims[2] as number
      const last = (logits.data as Float32Array).subarray((ids.length - 1) * vocab, ids.length * vocab)
      let best = 0
      for (let v = 1; v < vocab; v++) if ((last[v] as number) > (last[best] as number)) best = v
      generated.push(best)
      if (eos.has(best)) break
      ids.push(best)
    }
  } finally {
    await session.release()
  }
  return generated
}

/** Text of generated ids as the engine reports it: end tokens excluded. */
const textOf = (ids: readonly number[]) => TINY_TOKENIZER.decode(ids.filter((id) => !EOS.has(id)))

describe('OnnxGenerationEngine', () => {
  let engine: OnnxGenerationEngine
  beforeAll(async () => {
    engine = await startTinyEngine({ prefillChunkTokens: 16 })
  })
  afterAll(async () => {
    await engine?.unload()
  })

  it('reports its limits from model.yaml and config.json', () => {
    expect(engine.limits).toEqual({
      context_length: 512,
      max_sequences: 8,
      default_max_tokens: 64,
      step_timeout_ms: 20_000,
      max_prompt_tokens: null,
    })
    expect(engine.condition()).toEqual({ kind: 'serving' })
    expect([engine.backend, engine.device, engine.precision]).toEqual(['onnxruntime', 'CPU', 'FP32'])
  })

  it('decodes greedily with the KV cache exactly as full recompute does, token for token', async () => {
    for (const prompt of [
      'Hello! How can I help you today?',
      'x',
      'The capital of France is Paris. '.repeat(3),
    ]) {
      const ids = TINY_TOKENIZER.encode(prompt, true)
      const expected = await greedyByRecompute(ids, 40)
      const result = await engine.generate(completion(prompt), { max_tokens: 40 })
      expect(result.text, prompt).toBe(textOf(expected))
      expect(result.usage).toEqual({ prompt_tokens: ids.length, completion_tokens: expected.length })
      expect(result.finish_reason).toBe(EOS.has(expected.at(-1) as number) ? 'stop' : 'length')
    }
  })

  it('gives the same answer whatever the prefill chunk size (a prompt fed in several steps)', async () => {
    const prompt = chat(
      'Please summarize the following text in one sentence: it was cold, then warm, then it rained.',
    )
    const chunked = await engine.generate(prompt, { max_tokens: 30 })
    const whole = await startTinyEngine({ prefillChunkTokens: 512 })
    try {
      expect((await whole.generate(prompt, { max_tokens: 30 })).text).toBe(chunked.text)
    } finally {
      await whole.unload()
    }
  })

  it('gives the same text for the same seed, and usually another for another seed', async () => {
    const sampling: GenerationParameters = {
      max_tokens: 40,
      temperature: 0.9,
      top_p: 0.95,
      top_k: 50,
      seed: 1234,
    }
    const a = await engine.generate(chat('Write a short poem about the sea.'), sampling)
    const b = await engine.generate(chat('Write a short poem about the sea.'), sampling)
    expect(b.text).toBe(a.text)
    const others = await Promise.all(
      [1, 2, 3].map((seed) =>
        engine.generate(chat('Write a short poem about the sea.'), { ...sampling, seed }),
      ),
    )
    expect(others.some((o) => o.text !== a.text)).toBe(true)
  })

  it('ends at max_tokens with finish_reason length, and at an end token with stop', async () => {
    const short = await engine.generate(completion('Numbers: 1 2 3'), { max_tokens: 3 })
    expect(short.usage.completion_tokens).toBeLessThanOrEqual(3)
    if (short.usage.completion_tokens === 3) expect(short.finish_reason).toBe('length')

    // A copy of the model whose generation_config.json names the greedy answer's third token as its end token.
    const ids = TINY_TOKENIZER.encode('Hello! How can I help you today?', true)
    const greedy = await greedyByRecompute(ids, 5)
    const files = Object.fromEntries(
      ['model.yaml', '1/model.onnx', '1/config.json', '1/tokenizer.json', '1/tokenizer_config.json'].map(
        (f) => [f, readFileSync(join(TINY_DIR, f))],
      ),
    )
    const eos = greedy[2] as number
    const dir = writeTinyLlama({
      ...files,
      '1/generation_config.json': JSON.stringify({ eos_token_id: [eos] }),
    })
    const other = await startTinyEngine({
      files: {
        ...TINY_FILES,
        model: join(dir, '1', 'model.onnx'),
        generationConfig: join(dir, '1', 'generation_config.json'),
      },
    })
    try {
      const result = await other.generate(completion('Hello! How can I help you today?'), { max_tokens: 20 })
      expect(result.finish_reason).toBe('stop')
      expect(result.usage.completion_tokens).toBe(greedy.indexOf(eos) + 1)
      expect(result.text).toBe(textOf(greedy.slice(0, greedy.indexOf(eos))))
    } finally {
      await other.unload()
    }
  })

  it('cuts exactly before a stop string, wherever the tokens split it', async () => {
    const prompt = completion('What is the capital of France?')
    const full = await engine.generate(prompt, { max_tokens: 60 })
    // Stop strings taken from inside the answer: every cut position is tried, most spanning token boundaries.
    for (const [start, length] of [
      [5, 3],
      [10, 4],
      [17, 2],
      [1, 6],
    ] as const) {
      const stop = full.text.slice(start, start + length)
      if (stop.length < length) continue
      const chunks: string[] = []
      const cut = await engine.generate(
        prompt,
        { max_tokens: 60, stop: [stop] },
        { onChunk: (c) => chunks.push(c.text) },
      )
      expect(cut.text).toBe(full.text.slice(0, full.text.indexOf(stop)))
      expect(cut.finish_reason).toBe('stop')
      expect(chunks.join('')).toBe(cut.text)
      expect(chunks.some((c) => c.includes(stop))).toBe(false)
    }
  })

  it('streams chunks that concatenate to the non-streaming answer, through the async iterable too', async () => {
    const parameters = { max_tokens: 50, temperature: 0.8, seed: 99 }
    const whole = await engine.generate(chat('Tell me about the fleet.'), parameters)
    const stream = streamGeneration(engine, chat('Tell me about the fleet.'), parameters)
    const chunks: string[] = []
    for await (const chunk of stream) chunks.push(chunk.text)
    expect(chunks.length).toBeGreaterThan(1)
    expect(chunks.join('')).toBe(whole.text)
    expect((await stream.result).text).toBe(whole.text)
  })

  it('never streams half a character: chunks are whole text and change nothing, multi-byte answers included', async () => {
    // High-temperature sampling over a byte-level vocabulary produces byte tokens that split characters.
    let sawMultiByte = false
    for (const seed of [1, 2, 3, 4, 5, 6]) {
      const input = chat('日本語で話してください 😀 Ελληνικά привет')
      const parameters = { max_tokens: 80, temperature: 2, seed }
      const chunks: string[] = []
      const streamed = await engine.generate(input, parameters, { onChunk: (c) => chunks.push(c.text) })
      const plain = await engine.generate(input, parameters)
      expect(chunks.join('')).toBe(streamed.text)
      expect(streamed.text).toBe(plain.text)
      for (const chunk of chunks) expect(isWellFormed(chunk)).toBe(true)
      if ([...plain.text].some((ch) => (ch.codePointAt(0) as number) > 0x7f)) sawMultiByte = true
    }
    expect(sawMultiByte).toBe(true)
  })

  it('batches concurrent sequences, joining and leaving mid-run, and each gets exactly what it gets alone', async () => {
    // [input, parameters, chunks of the first answer after which this one starts]
    const requests: Array<[GenerationInput, GenerationParameters, number]> = [
      [chat('Hello!'), { max_tokens: 60 }, 0],
      [completion('The sea is blue and wide,'), { max_tokens: 12 }, 0],
      [chat('What is two plus two?'), { max_tokens: 55 }, 5],
      [completion('Zürich 日本語'), { max_tokens: 25, temperature: 0.7, seed: 5 }, 10],
      [chat('Translate to German: good morning'), { max_tokens: 35, repetition_penalty: 1.3 }, 15],
      [completion('x'), { max_tokens: 8 }, 20],
    ]
    const alone: GenerationResult[] = []
    for (const [input, parameters] of requests) alone.push(await engine.generate(input, parameters))
    // Together: later ones start while the first decodes (they join its batch), short ones leave early.
    let firstChunks = 0
    let mostActive = 0
    const starts = requests.map(() => {
      let resolve = () => {}
      const promise = new Promise<void>((r) => {
        resolve = r
      })
      return { promise, resolve }
    })
    const onChunk = () => {
      mostActive = Math.max(mostActive, engine.load().active)
      firstChunks++
      requests.forEach(([, , after], i) => {
        if (firstChunks >= after) starts[i]?.resolve()
      })
    }
    const together = await Promise.all(
      requests.map(async ([input, parameters, after], i) => {
        if (after > 0) await starts[i]?.promise
        return engine.generate(input, parameters, i === 0 ? { onChunk } : {})
      }),
    )
    together.forEach((result, i) => {
      expect(result.text, `request ${i}`).toBe(alone[i]?.text)
      expect(result.usage).toEqual(alone[i]?.usage)
    })
    expect(firstChunks).toBeGreaterThan(20)
    expect(mostActive).toBeGreaterThanOrEqual(3)
  })

  it('lets at most max_sequences run; the others wait their turn', async () => {
    const narrow = await startTinyEngine({ maxSequences: 2 })
    try {
      const calls = [1, 2, 3, 4].map((i) => narrow.generate(completion(`Number ${i}`), { max_tokens: 20 }))
      expect(narrow.load()).toEqual({ active: 2, waiting: 2 })
      const results = await Promise.all(calls)
      expect(results.every((r) => r.usage.completion_tokens > 0)).toBe(true)
      expect(narrow.load()).toEqual({ active: 0, waiting: 0 })
    } finally {
      await narrow.unload()
    }
  })

  it('cancels at the next step when the signal aborts, keeps the text so far, and frees the slot', async () => {
    const controller = new AbortController()
    const chunks: string[] = []
    const pending = engine.generate(
      completion('A long answer:'),
      { max_tokens: 400 },
      {
        signal: controller.signal,
        onChunk: (c) => {
          chunks.push(c.text)
          if (chunks.length === 3) controller.abort()
        },
      },
    )
    const result = await pending
    expect(result.finish_reason).toBe('cancelled')
    expect(result.text.startsWith(chunks.slice(0, 3).join(''))).toBe(true)
    expect(result.usage.completion_tokens).toBeLessThan(400)
    expect(engine.load()).toEqual({ active: 0, waiting: 0 })
    // An already aborted signal never starts.
    const aborted = await engine.generate(completion('x'), {}, { signal: AbortSignal.abort() })
    expect(aborted).toMatchObject({
      finish_reason: 'cancelled',
      text: '',
      usage: { prompt_tokens: 0, completion_tokens: 0 },
    })
  })

  it('cancels a call still waiting for a slot without it ever starting', async () => {
    const narrow = await startTinyEngine({ maxSequences: 1 })
    try {
      const first = narrow.generate(completion('one'), { max_tokens: 30 })
      const controller = new AbortController()
      const second = narrow.generate(completion('two'), { max_tokens: 30 }, { signal: controller.signal })
      expect(narrow.load()).toEqual({ active: 1, waiting: 1 })
      controller.abort()
      expect(await second).toMatchObject({ finish_reason: 'cancelled', usage: { completion_tokens: 0 } })
      expect(narrow.load().waiting).toBe(0)
      expect((await first).usage.completion_tokens).toBeGreaterThan(0)
    } finally {
      await narrow.unload()
    }
  })

  it('ends a stream whose loop is left early, freeing its slot', async () => {
    const stream = streamGeneration(engine, completion('Stream me'), { max_tokens: 300 })
    let seen = 0
    for await (const _ of stream) if (++seen === 2) break
    expect((await stream.result).finish_reason).toBe('cancelled')
    await waitFor(() => engine.load().active === 0, 'the slot to free')
  })

  it('refuses bad parameters, prompts beyond the context, and models without a template, with their field', async () => {
    await expect(engine.generate(chat('x'), { temperature: 5 })).rejects.toMatchObject({
      code: 'invalid_parameter',
      field: 'temperature',
    })
    const longPrompt = completion('the fleet '.repeat(300))
    await expect(engine.generate(longPrompt, {})).rejects.toMatchObject({
      code: 'context_length_exceeded',
      field: 'prompt',
    })
    await expect(engine.generate(chat('the fleet '.repeat(300)), {})).rejects.toMatchObject({
      code: 'context_length_exceeded',
      field: 'messages',
    })
    await expect(engine.generate(completion('hello'), { max_tokens: 600 })).rejects.toMatchObject({
      code: 'context_length_exceeded',
      field: 'max_tokens',
    })
    const noTemplate = await startTinyEngine({ files: { ...TINY_FILES, tokenizerConfig: null } })
    try {
      await expect(noTemplate.generate(chat('hi'), {})).rejects.toMatchObject({ code: 'template_failed' })
      expect(
        (await noTemplate.generate(completion('hi'), { max_tokens: 2 })).usage.completion_tokens,
      ).toBeGreaterThan(0)
    } finally {
      await noTemplate.unload()
    }
    expect(engine.load()).toEqual({ active: 0, waiting: 0 })
  })

  it('fails to start, naming the reason, for a model that is not a decoder', async () => {
    const mlp = join(import.meta.dirname, '..', '..', 'generated', 'models', 'mlp', '1', 'model.onnx')
    await expect(startTinyEngine({ files: { ...TINY_FILES, model: mlp } })).rejects.toThrow(
      /no input_ids input/,
    )
  })
})

describe('OnnxGenerationEngine with a SentencePiece-style tokenizer (Llama 2 layout, byte fallback)', () => {
  it("renders Llama 2's template, adds BOS to completions, and streams through the decode window in context", async () => {
    const tokenizerJson = llama2StyleTokenizer()
    const vocab = Object.keys((tokenizerJson.model as { vocab: object }).vocab).length
    // The same decoder with an output layer the size of this vocabulary (no bias: every token alike).
    const model = buildTinyLlamaModel(new Float32Array(vocab), TINY_LLAMA_SEED, TINY_LLAMA_DIMS)
    const dir = writeTinyLlama({
      '1/model.onnx': model,
      '1/tokenizer.json': JSON.stringify(tokenizerJson),
      '1/tokenizer_config.json': JSON.stringify(SENTENCEPIECE_TOKENIZER_CONFIG),
      '1/generation_config.json': JSON.stringify({ eos_token_id: 2 }),
      '1/config.json': JSON.stringify({ max_position_embeddings: 256 }),
    })
    const files = {
      model: join(dir, '1', 'model.onnx'),
      tokenizer: join(dir, '1', 'tokenizer.json'),
      tokenizerConfig: join(dir, '1', 'tokenizer_config.json'),
      generationConfig: join(dir, '1', 'generation_config.json'),
      config: join(dir, '1', 'config.json'),
      chatTemplate: null,
    }
    const tokenizer = new TextTokenizer(tokenizerJson, SENTENCEPIECE_TOKENIZER_CONFIG, 'llama2-style')
    const engine = await startTinyEngine({ files })
    try {
      expect(engine.limits.context_length).toBe(256)
      const promptIds = tokenizer.encode('hello world', true)
      expect(promptIds[0]).toBe(1)
      const expected = await greedyByRecompute(promptIds, 30, files.model, new Set([2]))
      const chunks: string[] = []
      const result = await engine.generate(
        completion('hello world'),
        { max_tokens: 30 },
        { onChunk: (c) => chunks.push(c.text) },
      )
      // In context: what the answer adds to the prompt's text (its leading space kept).
      const joint = tokenizer.decode([...promptIds, ...expected])
      expect(result.text).toBe(joint.slice(tokenizer.decode(promptIds).length))
      expect(result.usage).toEqual({ prompt_tokens: promptIds.length, completion_tokens: expected.length })
      expect(chunks.join('')).toBe(result.text)
      // Greedy repeats one word; alone each token decodes without its space, in context it keeps it.
      expect(chunks[0]?.startsWith(' ')).toBe(true)
      // Sampled, the answer is mostly byte-fallback tokens: streamed and plain runs still agree exactly.
      const sampled = { max_tokens: 40, temperature: 1.5, seed: 3 }
      const streamed: string[] = []
      const a = await engine.generate(completion('hello 日本'), sampled, {
        onChunk: (c) => streamed.push(c.text),
      })
      const b = await engine.generate(completion('hello 日本'), sampled)
      expect(streamed.join('')).toBe(a.text)
      expect(a.text).toBe(b.text)
      for (const chunk of streamed) expect(isWellFormed(chunk)).toBe(true)

      const chat = await engine.generate(
        { kind: 'chat', messages: [{ role: 'user', content: 'hello' }] },
        { max_tokens: 5 },
      )
      expect(chat.usage.prompt_tokens).toBe(tokenizer.encode('<s>[INST] hello [/INST]', false).length)
      await expect(
        engine.generate({ kind: 'chat', messages: [{ role: 'assistant', content: 'first' }] }, {}),
      ).rejects.toMatchObject({ code: 'template_failed' })
    } finally {
      await engine.unload()
    }
  })
})

describe("OnnxGenerationEngine on optimum's present layout (the whole cache out at every step)", () => {
  const presentModel = buildTinyLlamaModel(
    tinyLlamaLogitBias(trainTinyLlamaTokenizer()),
    TINY_LLAMA_SEED,
    TINY_LLAMA_DIMS,
    'float32',
    'present',
  )
  const dir = writeTinyLlama({ ...buildTinyLlamaFiles(), '1/model.onnx': presentModel })
  const model = join(dir, '1', 'model.onnx')

  it('decodes greedily as full recompute does, and batched with joins as each alone, as the new-positions model does', async () => {
    const present = await startTinyEngine({ files: { ...TINY_FILES, model }, prefillChunkTokens: 16 })
    const shipped = await startTinyEngine({ prefillChunkTokens: 16 })
    try {
      const session = await ort.InferenceSession.create(model)
      expect(session.outputNames).toContain('present.0.key')
      await session.release()
      const prompt = 'The capital of France is Paris. '.repeat(3)
      const expected = await greedyByRecompute(TINY_TOKENIZER.encode(prompt, true), 40, model)
      expect((await present.generate(completion(prompt), { max_tokens: 40 })).text).toBe(textOf(expected))
      const requests: Array<[GenerationInput, GenerationParameters]> = [
        [chat('Hello!'), { max_tokens: 60 }],
        [completion('The sea is blue and wide,'), { max_tokens: 12 }],
        [chat('What is two plus two?'), { max_tokens: 45, temperature: 0.8, seed: 3 }],
        [completion('Zürich 日本語'), { max_tokens: 25, temperature: 0.7, seed: 5, top_p: 0.9 }],
      ]
      const alone: string[] = []
      for (const [input, parameters] of requests) alone.push((await present.generate(input, parameters)).text)
      const together = await Promise.all(
        requests.map(([input, parameters]) => present.generate(input, parameters)),
      )
      expect(together.map((r) => r.text)).toEqual(alone)
      // Both layouts compute the same: the shipped model (new positions out) gives the same answers.
      const shippedTexts = await Promise.all(
        requests.map(([input, parameters]) => shipped.generate(input, parameters)),
      )
      expect(shippedTexts.map((r) => r.text)).toEqual(alone)
    } finally {
      await Promise.all([present.unload(), shipped.unload()])
    }
  })
})

describe('OnnxGenerationEngine on a float16 cache and float16 logits', () => {
  it('reads the types from the metadata and generates what the float32 model does, alone and batched', async () => {
    const model = buildTinyLlamaModel(
      tinyLlamaLogitBias(trainTinyLlamaTokenizer()),
      TINY_LLAMA_SEED,
      TINY_LLAMA_DIMS,
      'float16',
    )
    const dir = writeTinyLlama({ ...buildTinyLlamaFiles(), '1/model.onnx': model })
    const half = await startTinyEngine({ files: { ...TINY_FILES, model: join(dir, '1', 'model.onnx') } })
    const full = await startTinyEngine()
    try {
      const prompts = ['Hello! How can I help you today?', 'What is the capital of France?', 'Zürich 日本語']
      const alone: string[] = []
      for (const prompt of prompts) {
        const result = await half.generate(completion(prompt), { max_tokens: 20 })
        // Rounding the cache to float16 moves logits by about 1e-3: far from changing these greedy answers.
        expect(result.text, prompt).toBe((await full.generate(completion(prompt), { max_tokens: 20 })).text)
        alone.push(result.text)
      }
      const together = await Promise.all(prompts.map((p) => half.generate(completion(p), { max_tokens: 20 })))
      expect(together.map((r) => r.text)).toEqual(alone)
    } finally {
      await Promise.all([half.unload(), full.unload()])
    }
  })
})

describe('OnnxGenerationEngine faults', () => {
  it('abandons a thread whose step hangs past the limit, fails its calls, and serves again on a new thread', async () => {
    const release = new SharedArrayBuffer(4)
    const engine = await startTinyEngine({
      stepTimeoutMs: 1_500,
      faults: { hangAtStep: 4, hangRelease: release },
    })
    const conditions: string[] = []
    engine.onConditionChange((c) => conditions.push(c.kind))
    try {
      const hung = engine.generate(completion('hang here'), { max_tokens: 50 })
      await expect(hung).rejects.toMatchObject({ code: 'step_timeout' })
      expect(engine.abandonedThreads).toBe(1)
      // Reported as every backend reports a native call given up on (/health's abandoned_calls).
      expect(engine.abandonedCalls()).toEqual([
        {
          model: 'tiny-llama-chat',
          version: '1',
          thread: expect.stringMatching(/^generate:tiny-llama-chat:1#\d+$/),
          since: expect.any(Number),
        },
      ])
      await waitFor(() => engine.condition().kind === 'serving', 'the replacement thread')
      // Recovering (once, or again when a loaded machine slows the replacement), then serving.
      expect(conditions.at(-1)).toBe('serving')
      expect(new Set(conditions.slice(0, -1))).toEqual(new Set(['recovering']))
      // The replacement counts its own steps (the fault hangs it at its fourth too): a short call passes.
      const next = await engine.generate(completion('after'), { max_tokens: 2 })
      expect(next.usage.completion_tokens).toBeGreaterThan(0)
      // The native call "returns": the abandoned thread sees its flag and exits by itself, without aborting us.
      Atomics.store(new Int32Array(release), 0, 1)
      Atomics.notify(new Int32Array(release), 0)
      await waitFor(() => engine.abandonedThreads === 0, 'the abandoned thread to exit')
      expect(engine.abandonedCalls()).toEqual([])
    } finally {
      await engine.unload()
    }
  })

  it('replaces a thread that crashes, failing only the calls it held', async () => {
    const engine = await startTinyEngine({ faults: { crashAtStep: 3 } })
    try {
      await expect(engine.generate(completion('crash here'), { max_tokens: 50 })).rejects.toBeInstanceOf(
        GenerationError,
      )
      await waitFor(() => engine.condition().kind === 'serving', 'the replacement thread')
      const next = await engine.generate(completion('after'), { max_tokens: 1 })
      expect(next.usage.completion_tokens).toBe(1)
    } finally {
      await engine.unload()
    }
  })

  it('unloads within a bounded time while generating, settling calls as cancelled', async () => {
    const engine = await startTinyEngine()
    const running = engine.generate(completion('busy'), { max_tokens: 400 })
    await waitFor(() => engine.load().active === 1, 'the call to start')
    await engine.unload()
    expect((await running).finish_reason).toBe('cancelled')
    await expect(engine.generate(completion('late'), {})).rejects.toMatchObject({ code: 'unavailable' })
  })
})
