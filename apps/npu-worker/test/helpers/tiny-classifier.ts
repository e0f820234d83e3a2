import {
  ELEMENT_TYPE,
  intAttribute,
  OnnxGraphBuilder,
  valueInfo,
} from '../../src/models/onnx-graph-builder.js'
import { mulberry32 } from '../../src/models/seeded-random.js'
import { buildTinyBertTokenizerJson, buildTinyBertVocabulary } from '../../src/models/tiny-bert-model.js'

/** The labels of the generated classifier, as its config.json `id2label` names them. */
export const TINY_CLASSIFIER_LABELS = ['negative', 'neutral', 'positive'] as const

/**
 * A small sequence classifier with random weights, in the layout a Hugging Face export has: `input_ids` and
 * `attention_mask` [batch, sequence] in, `logits` [batch, labels] out (a masked mean of token embeddings through
 * one linear layer), the tiny-bert WordPiece tokenizer.json, and config.json with `id2label`. For tests of the
 * `text_classification` task: its answers mean nothing, but they are the model's.
 */
export function buildTinyClassifierFiles(manifest: string): Record<string, string | Uint8Array> {
  const vocab = buildTinyBertVocabulary()
  const hidden = 16
  const labels = TINY_CLASSIFIER_LABELS.length
  const random = mulberry32(20_261_202)
  const weights = (n: number) => Float32Array.from({ length: n }, () => (random() - 0.5) * 2)
  const g = new OnnxGraphBuilder()
  const embedding = g.floats('embedding', [vocab.length, hidden], weights(vocab.length * hidden))
  const tokens = g.op('Gather', [embedding, 'input_ids'], [intAttribute('axis', 0)])
  const mask = g.op('Unsqueeze', [
    g.op('Cast', ['attention_mask'], [intAttribute('to', ELEMENT_TYPE.FLOAT)]),
    g.ints('axis2', [2]),
  ])
  const summed = g.op(
    'ReduceSum',
    [g.op('Mul', [tokens, mask]), g.ints('axis1', [1])],
    [intAttribute('keepdims', 0)],
  )
  const count = g.op('ReduceSum', [mask, g.ints('axis1b', [1])], [intAttribute('keepdims', 0)])
  const mean = g.op('Div', [summed, count])
  const projected = g.op('MatMul', [mean, g.floats('classifier', [hidden, labels], weights(hidden * labels))])
  g.op('Add', [projected, g.floats('bias', [labels], weights(labels))], [], 'logits')
  const model = g.encode({
    name: 'tiny-classifier',
    docString: 'random-weight sequence classifier for tests',
    opset: 17,
    inputs: [
      valueInfo('input_ids', ELEMENT_TYPE.INT64, ['batch', 'sequence']),
      valueInfo('attention_mask', ELEMENT_TYPE.INT64, ['batch', 'sequence']),
    ],
    outputs: [valueInfo('logits', ELEMENT_TYPE.FLOAT, ['batch', labels])],
  })
  return {
    'model.yaml': manifest,
    '1/model.onnx': model,
    '1/tokenizer.json': buildTinyBertTokenizerJson(vocab),
    '1/config.json': JSON.stringify({
      architectures: ['BertForSequenceClassification'],
      id2label: Object.fromEntries(TINY_CLASSIFIER_LABELS.map((label, i) => [String(i), label])),
    }),
  }
}
