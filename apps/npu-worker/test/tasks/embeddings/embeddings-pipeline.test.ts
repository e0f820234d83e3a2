// The embeddings pipeline end to end on the real runtime (OpenVINO when it loads here, else ONNX Runtime on
// the CPU, through the real registry and scheduler), checked against the independent Python reference:
// tokenizer written from BERT's algorithm, encoder in numpy float64 from the .onnx weights.
// Needs the compiled ONNX Runtime thread entry: build the worker first (turbo does before tests).
import { join } from 'node:path'
import { EmbeddingsResponseSchema } from '@npu-fleet/protocol'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildMlpModel } from '../../../src/models/mlp-model.js'
import {
  buildTinyBertFiles,
  buildTinyBertModel,
  buildTinyBertVocabulary,
} from '../../../src/models/tiny-bert-model.js'
import type { EmbeddingsHarness, ModelFiles } from './embeddings-harness.js'
import { startEmbeddingsHarness } from './embeddings-harness.js'
import { TRICKY_TEXTS } from './fixtures/tricky-texts.js'
import { maxAbsDiff, pythonReferenceMissing, runReference, skipNote } from './python-reference.js'

const TOLERANCE = 1e-4
const base = buildTinyBertFiles()
const tiny = (manifest: string, extra: ModelFiles = {}): ModelFiles => ({
  ...base,
  'model.yaml': manifest,
  ...extra,
})
const texts = Object.values(TRICKY_TEXTS)
const names = Object.keys(TRICKY_TEXTS)

let h: EmbeddingsHarness
const vocabOf = (model: string) => join(h.dir, model, '1', 'vocab.txt')
const onnxOf = (model: string) => join(h.dir, model, '1', 'model.onnx')

beforeAll(async () => {
  h = await startEmbeddingsHarness({
    // The generated default, manifest and all.
    'tiny-bert-embed': base,
    // CLS pooling, raw vectors, nomic-style prefixes, three texts per model call.
    'bert-cls-prefixed': tiny(`instances: 1
embeddings:
  pooling: cls
  normalize: false
  query_prefix: "search_query: "
  document_prefix: "search_document: "
  max_batch_size: 3
`),
    // Compiled for batch 4 x 32 tokens in the graph itself: the static-shape (NPU) path, on this runtime.
    'bert-static': {
      ...tiny('instances: 1\nembeddings: { sequence_length: 128 }\n'),
      '1/model.onnx': buildTinyBertModel(buildTinyBertVocabulary().length, { inputShape: [4, 32] }),
    },
    'no-tokenizer': (() => {
      const { '1/tokenizer.json': _, ...rest } = tiny('instances: 1\nembeddings: {}\n')
      return rest
    })(),
    'wrong-output': tiny('instances: 1\nembeddings: { output: pooled_output }\n'),
    'corrupt-model': tiny('instances: 1\nembeddings: {}\n', {
      '1/model.onnx': Buffer.from('not an onnx model'),
    }),
    mlp: { 'model.yaml': 'instances: 1\n', '1/model.onnx': buildMlpModel() },
  })
}, 120_000)

afterAll(async () => {
  await h?.close()
})

describe.skipIf(pythonReferenceMissing)(`matches the numpy reference to ${TOLERANCE}${skipNote}`, () => {
  it('mean pooling, L2-normalised (the generated default), on every tricky text', async () => {
    const { result, model, backend, device } = await h.pipeline.run(
      { input: texts, model: 'tiny-bert-embed' },
      h.context(),
    )
    const reference = runReference({
      vocab: vocabOf('tiny-bert-embed'),
      model: onnxOf('tiny-bert-embed'),
      texts,
      sequence_length: 128,
    })
    expect(EmbeddingsResponseSchema.parse(result)).toEqual(result)
    expect(model).toBe('tiny-bert-embed')
    expect(['onnxruntime', 'openvino']).toContain(backend)
    expect(device).toMatch(/^(CPU|GPU|NPU)$/)
    expect(result.model).toBe('tiny-bert-embed')
    expect(result.data.map((d) => d.index)).toEqual(texts.map((_, i) => i))
    result.data.forEach((d, i) => {
      expect(d.embedding, names[i]).toHaveLength(128)
      expect(maxAbsDiff(d.embedding, reference.embeddings?.[i] ?? []), names[i]).toBeLessThan(TOLERANCE)
      expect(Math.hypot(...d.embedding)).toBeCloseTo(1, 6)
    })
    const tokens = reference.ids.reduce((sum, ids) => sum + ids.length, 0)
    expect(result.usage).toEqual({ prompt_tokens: tokens, total_tokens: tokens })
    // Long texts really were cut to the sequence length, [CLS] and [SEP] included.
    expect(reference.ids[names.indexOf('longEnglish')]).toHaveLength(128)
  })

  it('CLS pooling without normalisation, with the query or document prefix', async () => {
    const sample = [
      TRICKY_TEXTS.accents,
      TRICKY_TEXTS.chinese,
      TRICKY_TEXTS.emoji,
      TRICKY_TEXTS.longEnglish,
    ] as string[]
    for (const [inputType, prefix] of [
      ['query', 'search_query: '],
      ['document', 'search_document: '],
      [undefined, 'search_document: '],
    ] as const) {
      const { result } = await h.pipeline.run(
        { input: sample, model: 'bert-cls-prefixed', ...(inputType ? { input_type: inputType } : {}) },
        h.context(),
      )
      const reference = runReference({
        vocab: vocabOf('bert-cls-prefixed'),
        model: onnxOf('bert-cls-prefixed'),
        texts: sample,
        prefix,
        sequence_length: 128,
        pooling: 'cls',
        normalize: false,
      })
      result.data.forEach((d, i) => {
        expect(maxAbsDiff(d.embedding, reference.embeddings?.[i] ?? []), `${inputType} ${i}`).toBeLessThan(
          TOLERANCE,
        )
      })
      expect(Math.abs(Math.hypot(...(result.data[0]?.embedding ?? [])) - 1)).toBeGreaterThan(0.01)
      const tokens = reference.ids.reduce((sum, ids) => sum + ids.length, 0)
      expect(result.usage.prompt_tokens).toBe(tokens)
    }
  })

  it('leaves a text that already carries one of the prefixes alone', async () => {
    const sample = ['search_query: what is an npu', 'search_document: an npu is a neural processor']
    const { result } = await h.pipeline.run({ input: sample, model: 'bert-cls-prefixed' }, h.context())
    const reference = runReference({
      vocab: vocabOf('bert-cls-prefixed'),
      model: onnxOf('bert-cls-prefixed'),
      texts: sample,
      sequence_length: 128,
      pooling: 'cls',
      normalize: false,
    })
    result.data.forEach((d, i) => {
      expect(maxAbsDiff(d.embedding, reference.embeddings?.[i] ?? [])).toBeLessThan(TOLERANCE)
    })
  })

  it('on a model compiled for static shapes: pads to its length and batch, truncates to its length', async () => {
    const sample = texts.slice(0, 10)
    h.calls.length = 0
    const { result } = await h.pipeline.run({ input: sample, model: 'bert-static' }, h.context())
    const reference = runReference({
      vocab: vocabOf('bert-static'),
      model: onnxOf('bert-static'),
      texts: sample,
      sequence_length: 32,
    })
    result.data.forEach((d, i) => {
      expect(maxAbsDiff(d.embedding, reference.embeddings?.[i] ?? []), names[i]).toBeLessThan(TOLERANCE)
    })
    // 10 texts in calls of exactly 4 rows x 32 tokens: the last call carries 2 filler rows.
    expect(h.calls.map((c) => c.shapes.input_ids)).toEqual([
      [4, 32],
      [4, 32],
      [4, 32],
    ])
    expect(result.usage.prompt_tokens).toBe(reference.ids.reduce((sum, ids) => sum + ids.length, 0))
  })
})

describe('embeddings pipeline', () => {
  it('serves every model with an embeddings section, the first by name by default', async () => {
    expect(h.pipeline.type).toBe('embeddings')
    expect(h.pipeline.models).toEqual([
      'bert-cls-prefixed',
      'bert-static',
      'corrupt-model',
      'no-tokenizer',
      'tiny-bert-embed',
      'wrong-output',
    ])
    expect(h.pipeline.unavailableReason?.()).toBeNull()
    const { result, model } = await h.pipeline.run({ input: 'hello world' }, h.context())
    expect(model).toBe('bert-cls-prefixed')
    expect(result.model).toBe('bert-cls-prefixed')
    expect(result.data).toHaveLength(1)
  })

  it('batches up to max_batch_size texts per call, padded to the longest, with the vectors of one-by-one calls', async () => {
    const sample = [
      'a',
      'hello world',
      TRICKY_TEXTS.accents,
      TRICKY_TEXTS.longEnglish,
      'short',
      TRICKY_TEXTS.chinese,
      'x',
      TRICKY_TEXTS.emoji,
    ] as string[]
    h.calls.length = 0
    const together = await h.pipeline.run({ input: sample, model: 'bert-cls-prefixed' }, h.context())
    const columns = h.calls.map((c) => c.shapes.input_ids)
    expect(columns.map((s) => s?.[0])).toEqual([3, 3, 2])
    expect(columns[0]?.[1]).toBeLessThan(128)
    expect(columns[1]?.[1]).toBe(128)
    for (const [i, text] of sample.entries()) {
      const alone = await h.pipeline.run({ input: [text], model: 'bert-cls-prefixed' }, h.context())
      expect(
        maxAbsDiff(alone.result.data[0]?.embedding ?? [], together.result.data[i]?.embedding ?? []),
      ).toBeLessThan(1e-5)
    }
  })

  it('answers 404 for a model that is not an embeddings model or does not exist', async () => {
    await expect(h.pipeline.run({ input: 'x', model: 'mlp' }, h.context())).rejects.toMatchObject({
      code: 'NPU_ERR_MODEL_NOT_FOUND',
      statusCode: 404,
      message: expect.stringMatching(
        /mlp has no embeddings section in its model\.yaml \(embeddings models: bert-cls-prefixed, /,
      ),
    })
    await expect(
      h.pipeline.run({ input: 'x', model: 'text-embedding-3-small' }, h.context()),
    ).rejects.toMatchObject({
      code: 'NPU_ERR_MODEL_NOT_FOUND',
      statusCode: 404,
      message: expect.stringMatching(/^Model not found: text-embedding-3-small \(embeddings models: /),
    })
  })

  it('answers 503 naming the cause when a model cannot serve', async () => {
    const cases: Array<[string, RegExp]> = [
      [
        'no-tokenizer',
        /Model no-tokenizer is not ready \(tokenizer\.json not found in .*no-tokenizer\/1 or .*no-tokenizer\)/,
      ],
      [
        'wrong-output',
        /embeddings\.output "pooled_output" is not an output of the model \(outputs: last_hidden_state\)/,
      ],
      ['corrupt-model', /Model corrupt-model is not ready \(.*could not load/],
    ]
    for (const [model, message] of cases) {
      await expect(h.pipeline.run({ input: 'x', model }, h.context()), model).rejects.toMatchObject({
        code: 'NPU_ERR_MODEL_NOT_READY',
        statusCode: 503,
        message: expect.stringMatching(message),
      })
    }
  })

  it('stops with NPU_ERR_CANCELLED when the client has gone', async () => {
    const gone = new AbortController()
    gone.abort()
    await expect(
      h.pipeline.run({ input: ['a', 'b'], model: 'tiny-bert-embed' }, h.context(gone.signal)),
    ).rejects.toMatchObject({
      code: 'NPU_ERR_CANCELLED',
    })
  })
})

describe('embeddings pipeline without a usable model', () => {
  it('is not ready and answers 404 when no model has an embeddings section', async () => {
    const bare = await startEmbeddingsHarness({
      mlp: { 'model.yaml': 'instances: 1\n', '1/model.onnx': buildMlpModel() },
    })
    try {
      expect(bare.pipeline.models).toEqual([])
      expect(bare.pipeline.unavailableReason?.()).toBe('no embeddings model')
      await expect(bare.pipeline.run({ input: 'x' }, bare.context())).rejects.toMatchObject({
        code: 'NPU_ERR_MODEL_NOT_FOUND',
        message: 'Model not found: no embeddings model is installed on this worker',
      })
    } finally {
      await bare.close()
    }
  })

  it('is not ready while its only embeddings model cannot serve', async () => {
    const broken = await startEmbeddingsHarness({
      'only-broken': tiny('instances: 1\nembeddings: {}\n', { '1/tokenizer.json': '{"model": ' }),
    })
    try {
      expect(broken.pipeline.models).toEqual(['only-broken'])
      expect(broken.registry.resolve('only-broken')?.state.kind).toBe('ready')
      expect(broken.pipeline.unavailableReason?.()).toMatch(
        /^no embeddings model can serve: only-broken: .*tokenizer\.json: not valid JSON/,
      )
      await expect(broken.pipeline.run({ input: 'x' }, broken.context())).rejects.toMatchObject({
        code: 'NPU_ERR_MODEL_NOT_READY',
        message: expect.stringMatching(/tokenizer\.json: not valid JSON/),
      })
    } finally {
      await broken.close()
    }
  })
})
