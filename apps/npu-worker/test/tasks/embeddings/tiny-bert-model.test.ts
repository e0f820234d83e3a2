// The generated demo embedder (src/models/tiny-bert-model.ts; its test lives with the embeddings tests that
// own it): deterministic, loadable by ONNX Runtime, equal to the numpy reference forward pass, and what the
// build writes into the default repository.
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as ort from 'onnxruntime-node'
import { describe, expect, it } from 'vitest'
import { parse as parseYaml } from 'yaml'
import { DEFAULT_MODELS_DIR } from '../../../src/models/default-model-repository.js'
import { ModelManifestSchema } from '../../../src/models/model-manifest.js'
import {
  buildTinyBertFiles,
  buildTinyBertModel,
  buildTinyBertTokenizerJson,
  buildTinyBertVocabTxt,
  buildTinyBertVocabulary,
  TINY_BERT_DIMS,
} from '../../../src/models/tiny-bert-model.js'
import { maxAbsDiff, pythonReferenceMissing, runReference, skipNote } from './python-reference.js'

const vocab = buildTinyBertVocabulary()
const dir = mkdtempSync(join(tmpdir(), 'tiny-bert-'))
const modelPath = join(dir, 'model.onnx')
const vocabPath = join(dir, 'vocab.txt')
writeFileSync(modelPath, buildTinyBertModel(vocab.length))
writeFileSync(vocabPath, buildTinyBertVocabTxt(vocab))

/** Runs the ONNX model on one unpadded sequence and returns last_hidden_state as rows. */
async function hiddenStates(session: ort.InferenceSession, ids: readonly number[]): Promise<number[][]> {
  const tensor = (values: readonly number[]) =>
    new ort.Tensor(
      'int64',
      BigInt64Array.from(values, (v) => BigInt(v)),
      [1, values.length],
    )
  const out = await session.run({
    input_ids: tensor(ids),
    attention_mask: tensor(ids.map(() => 1)),
    token_type_ids: tensor(ids.map(() => 0)),
  })
  const hidden = out.last_hidden_state as ort.Tensor
  expect(hidden.dims).toEqual([1, ids.length, TINY_BERT_DIMS.hidden])
  const data = Array.from(hidden.data as Float32Array)
  return ids.map((_, row) => data.slice(row * TINY_BERT_DIMS.hidden, (row + 1) * TINY_BERT_DIMS.hidden))
}

describe('tiny-bert-embed generator', () => {
  it('is deterministic, byte for byte', () => {
    const a = buildTinyBertFiles()
    const b = buildTinyBertFiles()
    expect(Object.keys(a)).toEqual(['model.yaml', '1/model.onnx', '1/tokenizer.json', '1/vocab.txt'])
    for (const [file, data] of Object.entries(a))
      expect(Buffer.from(b[file] ?? '').equals(Buffer.from(data)), file).toBe(true)
  })

  it('has a vocabulary of unique tokens, the same ids in vocab.txt and tokenizer.json', () => {
    expect(new Set(vocab).size).toBe(vocab.length)
    expect(vocab.slice(0, 5)).toEqual(['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'])
    const json = JSON.parse(buildTinyBertTokenizerJson(vocab))
    expect(Object.entries(json.model.vocab).sort((x, y) => (x[1] as number) - (y[1] as number))).toEqual(
      vocab.map((token, id) => [token, id]),
    )
    expect(readFileSync(vocabPath, 'utf8').split('\n').slice(0, -1)).toEqual(vocab)
    // Stored the way the uncased normaliser leaves text: no capitals, no combining marks.
    for (const token of vocab.slice(5))
      expect(token).toBe(
        token
          .toLowerCase()
          .normalize('NFD')
          .replace(/\p{Mn}/gu, ''),
      )
  })

  it('ships a model.yaml that says it is a random-weight demo and validates', () => {
    const manifest = buildTinyBertFiles()['model.yaml'] as string
    expect(manifest).toMatch(/DEMO \/ TEST model with RANDOM weights/)
    expect(manifest).toMatch(/carry NO meaning/)
    const parsed = ModelManifestSchema.parse(parseYaml(manifest))
    expect(parsed.embeddings).toEqual({
      sequence_length: 128,
      pooling: 'mean',
      normalize: true,
      query_prefix: '',
      document_prefix: '',
      max_batch_size: 32,
      tokenizer: 'tokenizer.json',
      output: 'last_hidden_state',
    })
    expect(parsed.static_shapes).toEqual({
      input_ids: [1, 128],
      attention_mask: [1, 128],
      token_type_ids: [1, 128],
    })
  })

  it('is what the build wrote into the default repository', () => {
    const generated = join(DEFAULT_MODELS_DIR, 'tiny-bert-embed')
    expect(existsSync(join(generated, 'model.yaml')), `${generated}: run the worker build first`).toBe(true)
    for (const [file, data] of Object.entries(buildTinyBertFiles())) {
      expect(readFileSync(join(generated, file)).equals(Buffer.from(data)), file).toBe(true)
    }
  })

  it('loads in ONNX Runtime with BERT inputs, dynamic or static shapes', async () => {
    const session = await ort.InferenceSession.create(modelPath)
    expect(session.inputNames).toEqual(['input_ids', 'attention_mask', 'token_type_ids'])
    expect(session.outputNames).toEqual(['last_hidden_state'])
    const states = await hiddenStates(session, [2, 638, 328, 3])
    // LayerNorm output with gamma ~ 1: O(1) values, neither vanishing nor exploding.
    const all = states.flat()
    expect(Math.max(...all.map(Math.abs))).toBeGreaterThan(0.5)
    expect(Math.max(...all.map(Math.abs))).toBeLessThan(20)
    await session.release()

    const staticPath = join(dir, 'static.onnx')
    writeFileSync(staticPath, buildTinyBertModel(vocab.length, { inputShape: [4, 32] }))
    const fixed = await ort.InferenceSession.create(staticPath)
    expect(fixed.inputMetadata.map((m) => ('shape' in m ? m.shape : null))).toEqual([
      [4, 32],
      [4, 32],
      [4, 32],
    ])
    await fixed.release()
  })

  it.skipIf(pythonReferenceMissing)(
    `equals the numpy forward pass token by token to 1e-4${skipNote}`,
    async () => {
      const texts = [
        'hello world',
        'Café naïve 😀 unbelievably 中文 안녕하세요',
        'the quick brown fox '.repeat(40),
      ]
      const reference = runReference({
        vocab: vocabPath,
        model: modelPath,
        texts,
        sequence_length: 128,
        hidden: true,
      })
      const session = await ort.InferenceSession.create(modelPath)
      for (const [i, ids] of reference.ids.entries()) {
        const states = await hiddenStates(session, ids)
        states.forEach((row, position) => {
          expect(
            maxAbsDiff(row, reference.hidden?.[i]?.[position] ?? []),
            `text ${i} token ${position}`,
          ).toBeLessThan(1e-4)
        })
      }
      await session.release()
    },
  )
})
