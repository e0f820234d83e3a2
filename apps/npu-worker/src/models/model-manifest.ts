import { z } from 'zod'
import { GenerationSectionSchema } from '../generation/generation-manifest.js'

const positiveInt = z.number().int().positive()

const idleTimeoutError = 'expected an integer 1..86400000 (ms) or never'

/**
 * How long an ONNX Runtime instance beyond a model's first may sit idle before it is retired: 1 ms to a day, or
 * `never` (always on: every instance starts at load). Shared by model.yaml and the worker configuration.
 */
export const InstanceIdleTimeoutSchema = z.union(
  [
    z
      .number({ error: idleTimeoutError })
      .int({ error: idleTimeoutError })
      .min(1, { error: idleTimeoutError })
      .max(86_400_000, { error: idleTimeoutError }),
    z.literal('never', { error: idleTimeoutError }),
  ],
  { error: idleTimeoutError },
)

/** `instance_idle_timeout_ms` as a backend reads it: milliseconds, or null for always on. */
export function instanceIdleTimeoutMs(value: z.infer<typeof InstanceIdleTimeoutSchema>): number | null {
  return value === 'never' ? null : value
}

/** Optional `embeddings:` section: marks a model as a sentence embedder and says how to pool it. */
export const EmbeddingsSectionSchema = z
  .object({
    sequence_length: positiveInt.max(8192).default(128),
    pooling: z.enum(['mean', 'cls']).default('mean'),
    normalize: z.boolean().default(true),
    query_prefix: z.string().default(''),
    document_prefix: z.string().default(''),
    max_batch_size: positiveInt.max(1024).default(32),
    /** Hugging Face tokenizer file, looked up in the version folder, then in the model folder. */
    tokenizer: z
      .string()
      .regex(/^[A-Za-z0-9._-]+\.json$/, 'must be a .json file name, without folders')
      .default('tokenizer.json'),
    /** Model output holding the token vectors [batch, sequence, hidden]. */
    output: z.string().min(1).default('last_hidden_state'),
  })
  .strict()

/** A validated `embeddings:` section. */
export type EmbeddingsSection = z.infer<typeof EmbeddingsSectionSchema>

/**
 * Optional `classification:` section: marks a sequence-classification model (a BERT-family encoder with a
 * `[batch, labels]` logits output) for the `text_classification` task.
 */
export const ClassificationSectionSchema = z
  .object({
    sequence_length: positiveInt.max(8192).default(128),
    /** Hugging Face tokenizer file, looked up in the version folder, then in the model folder. */
    tokenizer: z
      .string()
      .regex(/^[A-Za-z0-9._-]+\.json$/, 'must be a .json file name, without folders')
      .default('tokenizer.json'),
    /** Model output holding the logits [batch, labels]. */
    output: z.string().min(1).default('logits'),
    /** Label names by class index; default: config.json `id2label` (beside the tokenizer). */
    labels: z.array(z.string().min(1)).min(2).optional(),
  })
  .strict()

/** A validated `classification:` section. */
export type ClassificationSection = z.infer<typeof ClassificationSectionSchema>

/**
 * Optional `warmup:` section (Triton's `model_warmup`): inferences run on the loaded model before it turns
 * ready, so the first client request does not pay for the device's first-run cost.
 */
export const WarmupSectionSchema = z
  .object({
    /** Inferences per batch size. */
    runs: positiveInt.max(1000).default(1),
    /** `zeros`, `random` (seeded, the same every load) or `sample` (the inputs of the JSON file `sample`). */
    data: z.enum(['zeros', 'random', 'sample']).default('zeros'),
    /** KServe inputs with data (`{"inputs": [...]}`), in the version folder, else the model folder. */
    sample: z
      .string()
      .regex(/^[A-Za-z0-9._-]+\.json$/, 'must be a .json file name, without folders')
      .optional(),
  })
  .strict()
  .refine((w) => (w.data === 'sample') === (w.sample !== undefined), {
    message: 'name a sample file exactly when data is sample',
    path: ['sample'],
  })

/** A validated `warmup:` section. */
export type WarmupSection = z.infer<typeof WarmupSectionSchema>

/** `model.yaml`: every key optional; unknown keys are rejected so typos do not pass silently. */
export const ModelManifestSchema = z
  .object({
    file: z
      .string()
      .regex(/^[A-Za-z0-9._-]+\.(onnx|xml)$/, 'must be a file name ending in .onnx or .xml, without folders')
      .optional(),
    versions: z.union([z.literal('latest'), z.literal('all'), z.array(positiveInt).min(1)]).default('latest'),
    devices: z
      .array(z.enum(['NPU', 'GPU', 'CPU']))
      .min(1)
      .default(['NPU', 'CPU']),
    static_shapes: z.record(z.string(), z.array(positiveInt).min(1)).optional(),
    threads: positiveInt.max(256).optional(),
    instances: positiveInt.max(64).optional(),
    /**
     * ONNX Runtime: ms an instance beyond the first may sit idle before it is retired (`never`: every instance
     * starts at load and stays); worker `default_instance_idle_timeout_ms` when unset.
     */
    instance_idle_timeout_ms: InstanceIdleTimeoutSchema.optional(),
    performance_hint: z.enum(['LATENCY', 'THROUGHPUT', 'CUMULATIVE_THROUGHPUT']).default('LATENCY'),
    /** Hard limit of one native inference (ms); worker `inference_timeout_ms` when unset. */
    inference_timeout_ms: positiveInt.max(3_600_000).optional(),
    queue: z
      .object({ max_queued: z.number().int().nonnegative().max(100_000).optional() })
      .strict()
      .default({}),
    batching: z
      .object({
        max_batch_size: positiveInt.max(1024),
        max_queue_delay_us: z.number().int().nonnegative().max(1_000_000).default(500),
        preferred_batch_sizes: z.array(positiveInt).optional(),
      })
      .strict()
      .optional(),
    embeddings: EmbeddingsSectionSchema.optional(),
    classification: ClassificationSectionSchema.optional(),
    generation: GenerationSectionSchema.optional(),
    /**
     * The output-correctness self-test's golden case shipped with the model: a JSON file (version folder, else
     * model folder) `{"inputs": [KServe inputs with data], "outputs": [KServe outputs with data]}`. Without it the
     * reference is computed with ONNX Runtime on the CPU at load (self-test.ts).
     */
    self_test: z
      .object({
        sample: z.string().regex(/^[A-Za-z0-9._-]+\.json$/, 'must be a .json file name, without folders'),
      })
      .strict()
      .optional(),
    warmup: WarmupSectionSchema.optional(),
  })
  .strict()

/** A validated `model.yaml`. */
export type ModelManifest = z.infer<typeof ModelManifestSchema>
