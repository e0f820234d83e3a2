import { z } from 'zod'

const positiveInt = z.number().int().positive()
/** A file name in the model's version folder (or the model folder), without folders. */
const fileName = (extension: string) =>
  z
    .string()
    .regex(
      new RegExp(`^[A-Za-z0-9._-]+\\.${extension}$`),
      `must be a .${extension} file name, without folders`,
    )

/**
 * Optional `generation:` section of model.yaml: marks a decoder-only language model for text generation and
 * sets the engine's limits. Files are looked up in the version folder, then in the model folder.
 */
export const GenerationSectionSchema = z
  .object({
    /** Tokens one sequence may hold, prompt and answer together; default: config.json `max_position_embeddings`. */
    context_length: positiveInt.max(1_048_576).optional(),
    /** Sequences decoded together in one batched step (continuous batching); more wait for a free slot. */
    max_sequences: positiveInt.max(256).default(4),
    /** Answer length when a request sets no `max_tokens`. */
    max_new_tokens: positiveInt.max(1_048_576).default(256),
    /** Prompt tokens one prefill step takes; a longer prompt is prefilled in several steps, between decode steps. */
    prefill_chunk_tokens: positiveInt.max(65_536).default(256),
    /** Hard limit of one engine step (a prefill chunk or a batched decode step), ms; default: `inference_timeout_ms`. */
    step_timeout_ms: positiveInt.max(3_600_000).optional(),
    tokenizer: fileName('json').default('tokenizer.json'),
    tokenizer_config: fileName('json').default('tokenizer_config.json'),
    generation_config: fileName('json').default('generation_config.json'),
    /** Hugging Face config.json: dimensions the ONNX metadata leaves symbolic, and the default context length. */
    config: fileName('json').default('config.json'),
    /** Jinja chat template file that overrides tokenizer_config.json's `chat_template`. */
    chat_template: fileName('jinja').optional(),
    /**
     * OpenVINO GenAI on the NPU (`MAX_PROMPT_LEN`): the longest prompt in tokens. A longer one is refused with 400,
     * because the NPU pipeline answers garbled text past it instead of failing.
     */
    max_prompt_len: positiveInt.max(1_048_576).default(1024),
    /** OpenVINO GenAI on the NPU (`MIN_RESPONSE_LEN`): answer tokens its static KV cache holds beyond the prompt. */
    min_response_len: positiveInt.max(1_048_576).default(128),
    /** OpenVINO GenAI on the NPU (`GENERATE_HINT`): `FAST_COMPILE` (OpenVINO's default) or `BEST_PERF`. */
    generate_hint: z.enum(['FAST_COMPILE', 'BEST_PERF']).default('FAST_COMPILE'),
  })
  .strict()

/** A validated `generation:` section. */
export type GenerationSection = z.infer<typeof GenerationSectionSchema>
