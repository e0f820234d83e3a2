import {
  type TextClassificationInput,
  TextClassificationInputSchema,
  type TextClassificationResult,
} from '@npu-fleet/protocol'
import { ErrInferenceFailed } from '../../errors.js'
import type { ModelRegistry } from '../../models/model-registry.js'
import { tensorNumbers } from '../../models/self-test.js'
import { buildEncoderBatch } from '../embeddings/encoder-batch.js'
import type { TaskPipeline } from '../task-pipeline.js'
import { ClassificationModels } from './classification-models.js'

/** Softmax over one row of logits (subtracting the maximum, so no exponent overflows). */
function softmax(row: readonly number[]): number[] {
  const max = Math.max(...row)
  const exps = row.map((x) => Math.exp(x - max))
  const sum = exps.reduce((a, b) => a + b, 0)
  return exps.map((e) => e / sum)
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x))

/** The `text_classification` pipeline, or null when no model has a `classification:` section. */
export function createTextClassificationPipeline(
  registry: ModelRegistry,
): TaskPipeline<TextClassificationInput, TextClassificationResult> | null {
  const models = new ClassificationModels(registry)
  if (models.names.length === 0) return null
  return {
    type: 'text_classification',
    models: models.names,
    choosesModel: true,
    unavailableReason: () => models.unavailableReason(),
    inputSchema: TextClassificationInputSchema,
    legacyInput: (data) => (typeof data === 'string' || Array.isArray(data) ? { text: data } : data),
    run: async (input, ctx) => {
      const target = models.target(input.model)
      const texts = typeof input.text === 'string' ? [input.text] : input.text
      const rowsPerCall = target.staticRows ?? texts.length
      const results: TextClassificationResult['results'] = []
      let last: Awaited<ReturnType<typeof ctx.infer>> | null = null
      for (let start = 0; start < texts.length; start += rowsPerCall) {
        const chunk = texts.slice(start, start + rowsPerCall)
        const sequences = chunk.map((text) => target.tokenizer.encode(text, target.maxTokens).ids)
        const columns = target.staticLength ?? Math.max(...sequences.map((s) => s.length))
        // A model compiled for a batch of N gets N rows; filler rows hold the empty text and are dropped.
        const filler = [...target.tokenizer.prefix, ...target.tokenizer.suffix]
        while (target.staticRows !== null && sequences.length < target.staticRows) sequences.push(filler)
        const call = await ctx.infer(
          target.name,
          buildEncoderBatch(sequences, columns, target.tokenizer.padId, target.model.inputs),
          [target.config.output],
        )
        const logits = call.outputs[target.config.output]
        const classes = target.labels.length
        if (logits?.shape.length !== 2 || logits.shape[1] !== classes) {
          throw new ErrInferenceFailed(
            target.name,
            `expected logits [batch, ${classes}], got [${logits?.shape ?? ''}]`,
          )
        }
        const values = Array.from(tensorNumbers(logits))
        chunk.forEach((_, row) => {
          const rowLogits = values.slice(row * classes, (row + 1) * classes)
          const scores = target.multiLabel ? rowLogits.map(sigmoid) : softmax(rowLogits)
          const labelled = scores.map((score, i) => ({ label: target.labels[i] as string, score }))
          const best = labelled.reduce((a, b) => (b.score > a.score ? b : a))
          results.push({ ...best, scores: labelled })
        })
        last = call
      }
      if (!last) throw new ErrInferenceFailed(target.name, 'no model call was made')
      return {
        result: { results, model: target.name },
        model: target.name,
        backend: last.backend,
        device: last.device,
      }
    },
  }
}
