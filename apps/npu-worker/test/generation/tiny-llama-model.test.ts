// The generated demo language model (src/models/tiny-llama-model.ts): deterministic, in optimum's decoder
// layout (new positions out, or optimum's present), and equal to an independent numpy forward pass, with and
// without the KV cache, padded and not.
import { join } from 'node:path'
import * as ort from 'onnxruntime-node'
import { beforeAll, describe, expect, it } from 'vitest'
import { parse as parseYaml } from 'yaml'
import { ModelManifestSchema } from '../../src/models/model-manifest.js'
import {
  buildTinyLlamaFiles,
  buildTinyLlamaModel,
  TINY_LLAMA_DIMS,
  TINY_LLAMA_SEED,
  TINY_LLAMA_SPECIAL_TOKENS,
  TINY_LLAMA_VOCAB_SIZE,
  type TinyLlamaCacheOutput,
  tinyLlamaLogitBias,
  trainTinyLlamaTokenizer,
} from '../../src/models/tiny-llama-model.js'
import { TINY_DIR, TINY_TOKENIZER, writeTinyLlama } from './generation-harness.js'
import { pythonReferenceMissing, referenceLogits, skipNote } from './python-reference.js'

const MODEL = join(TINY_DIR, '1', 'model.onnx')
/** The same weights in optimum's layout (the whole cache out as present.N). */
const PRESENT_MODEL = join(
  writeTinyLlama({
    ...buildTinyLlamaFiles(),
    '1/model.onnx': buildTinyLlamaModel(
      tinyLlamaLogitBias(trainTinyLlamaTokenizer()),
      TINY_LLAMA_SEED,
      TINY_LLAMA_DIMS,
      'float32',
      'present',
    ),
  }),
  '1',
  'model.onnx',
)
const CONFIG = join(TINY_DIR, '1', 'config.json')
const { layers, kvHeads, headDim } = TINY_LLAMA_DIMS
const TOLERANCE = 1e-4

type Cache = Record<string, ort.Tensor>

/** `past` with `added` appended along the sequence axis (both [batch, kvHeads, length, headDim]). */
function concatPositions(past: ort.Tensor, added: ort.Tensor): ort.Tensor {
  const [batch, heads, pastLength, size] = past.dims as [number, number, number, number]
  const addedLength = added.dims[2] as number
  const length = pastLength + addedLength
  const out = new Float32Array(batch * heads * length * size)
  for (let row = 0; row < batch * heads; row++) {
    const a = past.data as Float32Array
    const b = added.data as Float32Array
    out.set(a.subarray(row * pastLength * size, (row + 1) * pastLength * size), row * length * size)
    out.set(
      b.subarray(row * addedLength * size, (row + 1) * addedLength * size),
      (row * length + pastLength) * size,
    )
  }
  return new ort.Tensor('float32', out, [batch, heads, length, size])
}

/**
 * One run of the decoder: `ids` rows of equal length, a mask over past + new, explicit positions. The cache
 * it returns is keyed by `past_key_values.N`: the model's present, or the past with its new positions appended.
 */
async function run(
  session: ort.InferenceSession,
  ids: number[][],
  mask: number[][],
  positions: number[][],
  past: Cache | null,
): Promise<{ logits: number[][][]; cache: Cache }> {
  const batch = ids.length
  const length = (ids[0] as number[]).length
  const i64 = (rows: number[][]) =>
    new ort.Tensor('int64', BigInt64Array.from(rows.flat(), BigInt), [
      rows.length,
      (rows[0] as number[]).length,
    ])
  const feeds: Cache = { input_ids: i64(ids), attention_mask: i64(mask), position_ids: i64(positions) }
  for (let l = 0; l < layers; l++) {
    for (const kind of ['key', 'value']) {
      feeds[`past_key_values.${l}.${kind}`] =
        past?.[`past_key_values.${l}.${kind}`] ??
        new ort.Tensor('float32', new Float32Array(0), [batch, kvHeads, 0, headDim])
    }
  }
  const out = await session.run(feeds)
  const cache: Cache = {}
  for (let l = 0; l < layers; l++) {
    for (const kind of ['key', 'value']) {
      const name = `past_key_values.${l}.${kind}`
      const present = out[`present.${l}.${kind}`]
      const added = out[`new_key_values.${l}.${kind}`]
      cache[name] = present ?? concatPositions(feeds[name] as ort.Tensor, added as ort.Tensor)
    }
  }
  const logits = out.logits as ort.Tensor
  expect(logits.dims).toEqual([batch, length, TINY_LLAMA_VOCAB_SIZE])
  const data = logits.data as Float32Array
  const rows = Array.from({ length: batch }, (_, b) =>
    Array.from({ length }, (_, t) => {
      const start = (b * length + t) * TINY_LLAMA_VOCAB_SIZE
      return Array.from(data.subarray(start, start + TINY_LLAMA_VOCAB_SIZE))
    }),
  )
  return { logits: rows, cache }
}

function maxAbsDiff(a: readonly number[], b: readonly number[]): number {
  expect(a.length).toBe(b.length)
  let max = 0
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs((a[i] as number) - (b[i] as number)))
  return max
}

const PROMPTS = [
  'Hello! How can I help you today?',
  'Zürich, 日本語, привет 😀: the fleet works.',
  'x',
  'What is two plus two? Two plus two is four. What is the capital of France? The capital of France is Paris.',
].map((text) => TINY_TOKENIZER.encode(text, true))

describe('tiny-llama-chat generator', () => {
  it('is deterministic, byte for byte', () => {
    const a = buildTinyLlamaFiles()
    const b = buildTinyLlamaFiles()
    expect(Object.keys(a)).toEqual([
      'model.yaml',
      '1/model.onnx',
      '1/config.json',
      '1/tokenizer.json',
      '1/tokenizer_config.json',
      '1/generation_config.json',
    ])
    for (const [file, data] of Object.entries(a))
      expect(Buffer.from(b[file] ?? '').equals(Buffer.from(data)), file).toBe(true)
  })

  it('ships a model.yaml that says its weights are random, with a generation section that validates', () => {
    const manifest = buildTinyLlamaFiles()['model.yaml'] as string
    expect(manifest).toMatch(/DEMO \/ TEST language model with RANDOM weights/)
    expect(manifest).toMatch(/GIBBERISH/)
    const parsed = ModelManifestSchema.parse(parseYaml(manifest))
    expect(parsed.devices).toEqual(['CPU'])
    expect(parsed.generation).toMatchObject({ context_length: 512, max_sequences: 8, max_new_tokens: 128 })
  })

  it('has a 512-token vocabulary with the ChatML tokens last, and configs that agree on them', () => {
    const files = buildTinyLlamaFiles()
    const tokenizer = JSON.parse(files['1/tokenizer.json'] as string)
    expect(Object.keys(tokenizer.model.vocab).length + tokenizer.added_tokens.length).toBe(
      TINY_LLAMA_VOCAB_SIZE,
    )
    const specials = Object.fromEntries(
      tokenizer.added_tokens.map((t: { content: string; id: number }) => [t.content, t.id]),
    )
    expect(specials).toEqual({ '<|endoftext|>': 509, '<|im_start|>': 510, '<|im_end|>': 511 })
    const generation = JSON.parse(files['1/generation_config.json'] as string)
    expect(generation.eos_token_id).toEqual([511, 509])
    const config = JSON.parse(files['1/config.json'] as string)
    expect(config).toMatchObject({
      num_key_value_heads: kvHeads,
      head_dim: headDim,
      vocab_size: TINY_LLAMA_VOCAB_SIZE,
    })
    for (const special of TINY_LLAMA_SPECIAL_TOKENS)
      expect(TINY_TOKENIZER.encode(special, false)).toEqual([specials[special]])
  })

  it('has the inputs of an optimum decoder export, and returns the new positions (or, built so, the present)', async () => {
    const outputs: Record<TinyLlamaCacheOutput, string> = {
      'new-positions': 'new_key_values',
      present: 'present',
    }
    for (const [model, layout] of [
      [MODEL, 'new-positions'],
      [PRESENT_MODEL, 'present'],
    ] as const) {
      const session = await ort.InferenceSession.create(model)
      expect(session.inputNames).toEqual([
        'input_ids',
        'attention_mask',
        'position_ids',
        ...Array.from({ length: layers }, (_, l) => [
          `past_key_values.${l}.key`,
          `past_key_values.${l}.value`,
        ]).flat(),
      ])
      const prefix = outputs[layout]
      expect(session.outputNames).toEqual([
        'logits',
        ...Array.from({ length: layers }, (_, l) => [`${prefix}.${l}.key`, `${prefix}.${l}.value`]).flat(),
      ])
      await session.release()
    }
  })

  describe.skipIf(pythonReferenceMissing !== null).each([
    ['new positions out', MODEL],
    ["optimum's present out", PRESENT_MODEL],
  ])(`against the numpy reference, %s${skipNote}`, (_, MODEL) => {
    let session: ort.InferenceSession
    let reference: number[][][]
    beforeAll(async () => {
      session = await ort.InferenceSession.create(MODEL, { intraOpNumThreads: 1 })
      reference = referenceLogits(MODEL, CONFIG, PROMPTS)
    })

    it('gives the reference logits at every position of a whole prompt, to 1e-4', async () => {
      for (const [p, ids] of PROMPTS.entries()) {
        const { logits } = await run(session, [ids], [ids.map(() => 1)], [ids.map((_, i) => i)], null)
        for (const [t, row] of (logits[0] as number[][]).entries()) {
          expect(maxAbsDiff(row, reference[p]?.[t] as number[]), `prompt ${p} position ${t}`).toBeLessThan(
            TOLERANCE,
          )
        }
      }
    })

    it('gives the same logits token by token through the KV cache', async () => {
      const ids = PROMPTS[3] as number[]
      const split = 7
      let step = await run(
        session,
        [ids.slice(0, split)],
        [ids.slice(0, split).map(() => 1)],
        [[...Array(split).keys()]],
        null,
      )
      for (let t = split; t < ids.length; t++) {
        step = await run(session, [[ids[t] as number]], [Array(t + 1).fill(1)], [[t]], step.cache)
        expect(
          maxAbsDiff(step.logits[0]?.[0] as number[], reference[3]?.[t] as number[]),
          `position ${t}`,
        ).toBeLessThan(TOLERANCE)
      }
    })

    it('gives each row its own logits in a left-padded batch, and in a batched decode step after it', async () => {
      const rows = [PROMPTS[0] as number[], PROMPTS[2] as number[], PROMPTS[1] as number[]]
      const width = Math.max(...rows.map((r) => r.length))
      const pad = (r: number[], fill: number) => [...Array(width - r.length).fill(fill), ...r]
      const padded = await run(
        session,
        rows.map((r) => pad(r, 509)),
        rows.map((r) =>
          pad(
            r.map(() => 1),
            0,
          ),
        ),
        rows.map((r) =>
          pad(
            r.map((_, i) => i),
            0,
          ),
        ),
        null,
      )
      const next = [17, 42, 300]
      const extended = rows.map((r, b) => [...r, next[b] as number])
      const expected = referenceLogits(MODEL, CONFIG, extended)
      rows.forEach((r, b) => {
        for (let t = 0; t < r.length; t++) {
          const got = padded.logits[b]?.[width - r.length + t] as number[]
          expect(maxAbsDiff(got, expected[b]?.[t] as number[]), `row ${b} position ${t}`).toBeLessThan(
            TOLERANCE,
          )
        }
      })
      const decoded = await run(
        session,
        next.map((id) => [id]),
        rows.map((r) => [
          ...pad(
            r.map(() => 1),
            0,
          ),
          1,
        ]),
        rows.map((r) => [r.length]),
        padded.cache,
      )
      rows.forEach((r, b) => {
        expect(
          maxAbsDiff(decoded.logits[b]?.[0] as number[], expected[b]?.[r.length] as number[]),
          `row ${b}`,
        ).toBeLessThan(TOLERANCE)
      })
    })
  })
})
