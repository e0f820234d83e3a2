import { setImmediate as yieldToEventLoop } from 'node:timers/promises'
import type { EmbeddingsInput, EmbeddingsResponse } from '@npu-fleet/protocol'
import { ErrCancelled, ErrInferenceFailed } from '../../errors.js'
import type { ModelRegistry } from '../../models/model-registry.js'
import type { ModelCallResult, TaskContext, TaskOutcome, TaskPipeline } from '../task-pipeline.js'
import { EmbeddingModels, type EmbeddingTarget } from './embedding-models.js'
import { EmbeddingsTaskInputSchema } from './embeddings-input.js'
import { buildEncoderBatch } from './encoder-batch.js'
import { poolSentences } from './pooling.js'

/** Characters tokenised between two yields to the event loop (about 15 ms of main-thread work). */
const YIELD_EVERY_CHARS = 20_000

/** The `embeddings` task pipeline: OpenAI-shaped sentence embeddings from every model with an `embeddings:` section. */
export type EmbeddingsPipeline = TaskPipeline<EmbeddingsInput, EmbeddingsResponse>

/**
 * Builds the one `embeddings` pipeline that serves every registry model whose model.yaml has an
 * `embeddings:` section. A request names its model (default: the first embeddings model by name);
 * the task is offered while at least one of them can serve.
 *
 * Per request: prefix each text (`input_type` query or document, default document; a text that already
 * starts with one of the model's prefixes is left alone), tokenise with the model's tokenizer.json,
 * truncate to the sequence length keeping [CLS]/[SEP], batch up to `max_batch_size` texts per model call
 * (padded to the compiled length and batch on static-shape models such as the NPU's, else to the longest
 * text), pool (mean over the attention mask, or CLS), L2-normalise when configured.
 */
export function createEmbeddingsPipeline(registry: ModelRegistry): EmbeddingsPipeline {
  const models = new EmbeddingModels(registry)
  return {
    type: 'embeddings',
    models: models.names,
    unavailableReason: () => models.unavailableReason(),
    inputSchema: EmbeddingsTaskInputSchema,
    choosesModel: true,
    // The old `/inference` took a bare text or list of texts as `input_data` too.
    legacyInput: (data) => (typeof data === 'string' || Array.isArray(data) ? { input: data } : data),
    run: async (input, ctx) => embed(models.target(input.model), input, ctx),
  }
}

/** The text the model sees: the input-type prefix first, unless the text already carries a prefix. */
function prefixed(text: string, target: EmbeddingTarget, inputType: EmbeddingsInput['input_type']): string {
  const { query_prefix: query, document_prefix: document } = target.config
  const prefix = inputType === 'query' ? query : document
  if (
    prefix === '' ||
    (query !== '' && text.startsWith(query)) ||
    (document !== '' && text.startsWith(document))
  ) {
    return text
  }
  return prefix + text
}

async function embed(
  target: EmbeddingTarget,
  input: EmbeddingsInput,
  ctx: TaskContext,
): Promise<TaskOutcome<EmbeddingsResponse>> {
  const texts = typeof input.input === 'string' ? [input.input] : input.input
  const vectors = new Array<number[]>(texts.length)
  let promptTokens = 0
  let truncated = 0
  let lastCall: ModelCallResult | undefined
  let charsSinceYield = 0

  const chunks: number[][] = []
  for (let start = 0; start < texts.length; start += target.textsPerCall) {
    chunks.push(
      Array.from({ length: Math.min(target.textsPerCall, texts.length - start) }, (_, i) => start + i),
    )
  }

  const runChunk = async (indices: number[]) => {
    const sequences: number[][] = []
    for (const index of indices) {
      const text = texts[index] as string
      const encoded = target.tokenizer.encode(prefixed(text, target, input.input_type), target.maxTokens)
      sequences.push(encoded.ids)
      if (encoded.truncated) truncated++
      // Tokenising is main-thread work: let /health and other requests in between long texts.
      charsSinceYield += text.length
      if (charsSinceYield >= YIELD_EVERY_CHARS) {
        charsSinceYield = 0
        await yieldToEventLoop()
        if (ctx.signal.aborted) throw new ErrCancelled()
      }
    }
    const lengths = sequences.map((ids) => ids.length)
    const columns = target.staticLength ?? (target.mergeable ? target.maxTokens : Math.max(...lengths))
    // A model compiled for a batch of N gets exactly N rows; the filler rows hold the empty text and are ignored.
    const filler = [...target.tokenizer.prefix, ...target.tokenizer.suffix]
    while (target.staticRows !== null && sequences.length < target.staticRows) sequences.push(filler)
    const inputs = buildEncoderBatch(sequences, columns, target.tokenizer.padId, target.model.inputs)
    const call = await ctx.infer(target.name, inputs, [target.config.output])
    const hidden = call.outputs[target.config.output]
    if (!hidden)
      throw new ErrInferenceFailed(target.name, `the model returned no output "${target.config.output}"`)
    let pooled: number[][]
    try {
      pooled = poolSentences(hidden, lengths, target.config.pooling, target.config.normalize)
    } catch (error) {
      throw new ErrInferenceFailed(target.name, (error as Error).message)
    }
    indices.forEach((index, i) => {
      vectors[index] = pooled[i] as number[]
    })
    promptTokens += lengths.reduce((a, b) => a + b, 0)
    lastCall = call
  }

  // As many chunks in flight as the model runs at once: more would only queue, and a large request must not
  // fill the model's queue by itself. Tokenising the next chunk overlaps the current inference.
  let next = 0
  let failed = false
  const lane = async () => {
    while (!failed && next < chunks.length) {
      if (ctx.signal.aborted) throw new ErrCancelled()
      const chunk = chunks[next++] as number[]
      try {
        await runChunk(chunk)
      } catch (error) {
        failed = true
        throw error
      }
    }
  }
  const lanes = Math.max(1, Math.min(target.model.parallelism, chunks.length))
  await Promise.all(Array.from({ length: lanes }, lane))
  if (!lastCall) throw new ErrInferenceFailed(target.name, 'no model call was made')

  if (truncated > 0) {
    ctx.log.debug(
      { model: target.name, truncated, max_tokens: target.maxTokens },
      'embeddings: texts truncated',
    )
  }
  return {
    result: {
      object: 'list',
      data: vectors.map((embedding, index) => ({ object: 'embedding', index, embedding })),
      model: target.name,
      usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
    },
    model: target.name,
    backend: lastCall.backend,
    device: lastCall.device,
  }
}
