import { z } from 'zod'

// The prompts of the backend's language-model tasks, and the `generation_tasks` key of the worker config that
// overrides them. A prompt is a system message and a user message with one placeholder for the task's data,
// rendered through the model's own chat template (never hand-built per model family).

/** The default system and user prompts of `text_analysis`; `{text}` is replaced by the text. */
export const TEXT_ANALYSIS_PROMPT = {
  system:
    'You are a careful text analyst. You answer in plain prose and never invent facts the text does not hold.',
  prompt:
    'Analyze the following text. Summarize its main points, describe its tone and sentiment, and list the notable entities it names (people, organizations, places, dates).\n\nText:\n{text}',
}

/** The default system and user prompts of `knowledge_processing`; `{knowledge_data}` is replaced by the data. */
export const KNOWLEDGE_PROCESSING_PROMPT = {
  system: 'You are a knowledge engineer. You extract facts precisely and never invent any.',
  prompt:
    'Process the following knowledge. List its key facts, concepts and the relations between them, one per line, then summarize it in two sentences.\n\nKnowledge:\n{knowledge_data}',
}

const promptSchema = (placeholder: string, defaults: { system: string; prompt: string }) =>
  z
    .object({
      system: z.string({ error: 'expected a string' }).default(defaults.system),
      prompt: z
        .string({ error: 'expected a string' })
        .refine((p) => p.includes(placeholder), { error: `must contain ${placeholder}` })
        .default(defaults.prompt),
      /** Answer length when a request sets no `max_tokens`; null: the model's `generation.max_new_tokens`. */
      max_tokens: z.number({ error: 'expected an integer' }).int().positive().nullable().default(null),
    })
    .strict()
    .default({ ...defaults, max_tokens: null })

/** `generation_tasks` in the worker config: which model the text tasks use and their prompts. */
export const GenerationTasksSchema = z
  .object(
    {
      /** The language model of the text tasks when a request names none (or `"default"`); null: the first by name. */
      model: z.string({ error: 'expected a model name' }).min(1).nullable().default(null),
      text_analysis: promptSchema('{text}', TEXT_ANALYSIS_PROMPT),
      knowledge_processing: promptSchema('{knowledge_data}', KNOWLEDGE_PROCESSING_PROMPT),
    },
    { error: 'expected a mapping' },
  )
  .strict()
/** The text tasks' settings, defaults applied. */
export type GenerationTasksConfig = z.infer<typeof GenerationTasksSchema>
