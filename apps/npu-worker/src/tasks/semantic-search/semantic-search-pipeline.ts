import {
  type EmbeddingsInput,
  type EmbeddingsResponse,
  type SemanticSearchInput,
  SemanticSearchInputSchema,
  type SemanticSearchResult,
} from '@npu-fleet/protocol'
import type { z } from 'zod'
import { ErrInferenceFailed } from '../../errors.js'
import type { TaskPipeline } from '../task-pipeline.js'
import { rankByCosine } from './cosine-ranking.js'

/** Parsed input: `top_k` and `similarity_threshold` with their defaults applied. */
type SearchInput = z.output<typeof SemanticSearchInputSchema>

/**
 * `semantic_search`: embeds `query_text` with the served embedder (as a query: the model's query prefix) and
 * ranks the given `document_embeddings` by cosine similarity with it. Offered while the embeddings task is.
 */
export function createSemanticSearchPipeline(
  embeddings: TaskPipeline<EmbeddingsInput, EmbeddingsResponse>,
): TaskPipeline<SemanticSearchInput, SemanticSearchResult> {
  return {
    type: 'semantic_search',
    models: embeddings.models,
    choosesModel: true,
    unavailableReason: () => embeddings.unavailableReason?.() ?? null,
    inputSchema: SemanticSearchInputSchema as unknown as z.ZodType<SemanticSearchInput>,
    run: async (raw, ctx) => {
      const input = raw as SearchInput
      const embedded = await embeddings.run(
        { input: input.query_text, input_type: 'query', ...(input.model ? { model: input.model } : {}) },
        ctx,
      )
      const query = embedded.result.data[0]?.embedding
      if (!query)
        throw new ErrInferenceFailed(embedded.model, 'the embedder returned no vector for the query')
      const results = rankByCosine(
        query,
        input.document_embeddings,
        input.document_metadata,
        input.top_k,
        input.similarity_threshold,
      )
      return {
        result: { results, model: embedded.model },
        model: embedded.model,
        backend: embedded.backend,
        device: embedded.device,
      }
    },
  }
}
