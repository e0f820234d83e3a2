import { z } from 'zod'
import {
  ChatCompletionMessageSchema,
  CompletionUsageSchema,
  FinishReasonSchema,
  StopSchema,
} from './openai.js'

// Inputs and results of the text tasks the backend sends (`POST /v1/tasks/{type}`, `POST /inference`, the
// pool's `executeTask`): the language-model tasks (`text_analysis`, `knowledge_processing`, `chat_inference`),
// `semantic_search` and `text_classification`. `embedding_generation` is an alias of `embeddings` (tasks.ts).
// Inputs are strict: an unknown field is a 400 naming it.

const positiveInt = z.number().int().positive()

/**
 * Which model a task uses: `model` (or the seeds' `model_id`), a generation model's name; absent or `"default"`:
 * the worker's default (`generation_tasks.model`, else the first generation model by name).
 */
const modelChoice = {
  model: z.string().min(1).max(256).optional(),
  model_id: z.string().min(1).max(256).optional(),
}

/** `text_analysis` input: the text to analyse with the worker's analysis prompt. */
export const TextAnalysisInputSchema = z
  .object({ text: z.string().min(1), max_tokens: positiveInt.optional(), ...modelChoice })
  .strict()
/** `text_analysis` input. */
export type TextAnalysisInput = z.infer<typeof TextAnalysisInputSchema>

/** `knowledge_processing` input: text, or structured data (rendered as JSON into the prompt). */
export const KnowledgeProcessingInputSchema = z
  .object({
    knowledge_data: z.union([
      z.string().min(1),
      z.record(z.string(), z.unknown()),
      z.array(z.unknown()).min(1),
    ]),
    max_tokens: positiveInt.optional(),
    ...modelChoice,
  })
  .strict()
/** `knowledge_processing` input. */
export type KnowledgeProcessingInput = z.infer<typeof KnowledgeProcessingInputSchema>

/** `chat_inference` input: a conversation (`messages`) or a raw prompt (`prompt`), and sampling parameters. */
export const ChatInferenceInputSchema = z
  .object({
    messages: z.array(ChatCompletionMessageSchema).min(1).max(1024).optional(),
    prompt: z.string().min(1).optional(),
    max_tokens: positiveInt.optional(),
    temperature: z.number().optional(),
    top_p: z.number().optional(),
    top_k: z.number().int().nonnegative().optional(),
    repetition_penalty: z.number().optional(),
    seed: z.number().int().optional(),
    stop: StopSchema.optional(),
    ...modelChoice,
  })
  .strict()
  .refine((input) => (input.messages === undefined) !== (input.prompt === undefined), {
    message: 'give exactly one of messages or prompt',
    path: ['messages'],
  })
/** `chat_inference` input. */
export type ChatInferenceInput = z.infer<typeof ChatInferenceInputSchema>

/** Result of the language-model tasks: the generated text, why it ended, and the token counts. */
export const TextGenerationResultSchema = z.object({
  text: z.string(),
  finish_reason: FinishReasonSchema,
  usage: CompletionUsageSchema,
})
/** Result of `text_analysis`, `knowledge_processing` and `chat_inference`. */
export type TextGenerationResult = z.infer<typeof TextGenerationResultSchema>

/** `semantic_search` input: a query, the documents' embeddings (and metadata), how many to return. */
export const SemanticSearchInputSchema = z
  .object({
    query_text: z.string().min(1),
    /** One vector per document, each as long as the embedder's vectors. */
    document_embeddings: z.array(z.array(z.number())).min(1),
    /** One entry per document, returned with its match; null when absent. */
    document_metadata: z.array(z.unknown()).optional(),
    top_k: positiveInt.default(5),
    /** Cosine similarity a document needs to be returned, in [-1, 1]. */
    similarity_threshold: z.number().min(-1).max(1).default(0),
    /** The embeddings model (default: the first embeddings model). */
    model: z.string().min(1).max(256).optional(),
  })
  .strict()
/** `semantic_search` input (as sent: `top_k` and `similarity_threshold` optional). */
export type SemanticSearchInput = z.input<typeof SemanticSearchInputSchema>

/** `semantic_search` result: the best documents first, cosine similarity with the query. */
export const SemanticSearchResultSchema = z.object({
  results: z.array(
    z.object({ index: z.number().int().nonnegative(), similarity: z.number(), metadata: z.unknown() }),
  ),
  /** The embeddings model that embedded the query. */
  model: z.string(),
})
/** `semantic_search` result. */
export type SemanticSearchResult = z.infer<typeof SemanticSearchResultSchema>

/** `text_classification` input: one text or several. */
export const TextClassificationInputSchema = z
  .object({
    text: z.union([z.string().min(1), z.array(z.string().min(1)).min(1).max(256)]),
    /** The classification model (default: the first one). */
    model: z.string().min(1).max(256).optional(),
  })
  .strict()
/** `text_classification` input. */
export type TextClassificationInput = z.infer<typeof TextClassificationInputSchema>

const LabelScoreSchema = z.object({ label: z.string(), score: z.number() })

/** `text_classification` result: per text, in input order, the best label and every label's score. */
export const TextClassificationResultSchema = z.object({
  results: z.array(LabelScoreSchema.extend({ scores: z.array(LabelScoreSchema) })),
  model: z.string(),
})
/** `text_classification` result. */
export type TextClassificationResult = z.infer<typeof TextClassificationResultSchema>
