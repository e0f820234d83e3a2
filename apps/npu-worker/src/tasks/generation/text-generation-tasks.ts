import {
  type ChatInferenceInput,
  ChatInferenceInputSchema,
  type KnowledgeProcessingInput,
  KnowledgeProcessingInputSchema,
  type TextAnalysisInput,
  TextAnalysisInputSchema,
  type TextGenerationResult,
} from '@npu-fleet/protocol'
import { ErrModelNotFound } from '../../errors.js'
import { templateMessage } from '../../generation/chat-messages.js'
import type { GenerationInput, GenerationParameters } from '../../generation/text-generator.js'
import type { GeneratorRegistry } from '../../models/generator-registry.js'
import type { TaskContext, TaskOutcome, TaskPipeline } from '../task-pipeline.js'
import type { GenerationTasksConfig } from './task-prompts.js'

/** The model name that means "the worker's default" (the seeds' `model_id: "default"`). */
const DEFAULT_MODEL = 'default'

/** The language models the text tasks can use, and which one a request gets. */
class TaskModels {
  constructor(
    readonly generators: GeneratorRegistry,
    readonly configured: string | null,
  ) {}

  /** The model of a request without a model (or `"default"`): the configured one, else the first by name. */
  get defaultName(): string | undefined {
    return this.configured ?? this.generators.names[0]
  }

  /** The model a request asks for (`model`, else `model_id`); 404 listing the language models when it is none. */
  choose(input: { model?: string | undefined; model_id?: string | undefined }): string {
    const asked = input.model ?? input.model_id
    const name = asked === undefined || asked === DEFAULT_MODEL ? this.defaultName : asked
    const known = this.generators.names
    if (name === undefined || !known.includes(name)) {
      throw new ErrModelNotFound(
        `${name ?? asked ?? 'default'} (language models: ${known.join(', ') || 'none'})`,
      )
    }
    return name
  }

  /** Null while the default model can serve, else why the tasks cannot. */
  unavailableReason(): string | null {
    const name = this.defaultName
    if (name === undefined) return 'no language model is installed'
    const model = this.generators.resolve(name)
    if (!model) return `the configured generation_tasks.model ${name} is not a language model of this worker`
    if (model.ready()) return null
    const why = model.reason()
    return `language model ${name}:${model.version} ${model.state.kind}${why ? ` (${why})` : ''}`
  }
}

async function generateText(
  ctx: TaskContext,
  model: string,
  input: GenerationInput,
  parameters: GenerationParameters,
): Promise<TaskOutcome<TextGenerationResult>> {
  const run = await ctx.generate(model, input, parameters)
  const { usage } = run.result
  return {
    result: {
      text: run.result.text,
      finish_reason: run.result.finish_reason,
      usage: { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens },
    },
    model: run.model,
    backend: run.backend,
    device: run.device,
  }
}

/** A prompt task: the configured system message and the user message with the task's data in its placeholder. */
function promptInput(
  prompt: { system: string; prompt: string },
  placeholder: string,
  data: string,
): GenerationInput {
  // A function replacement: `$&` and friends in the data stay literal.
  const user = prompt.prompt.split(placeholder).join(data)
  const messages = [
    ...(prompt.system ? [{ role: 'system', content: prompt.system }] : []),
    { role: 'user', content: user },
  ]
  return { kind: 'chat', messages }
}

const ifSet = (max: number | null | undefined) =>
  max === undefined || max === null ? {} : { max_tokens: max }

/**
 * The backend's language-model tasks, on the worker's language models (greedy unless a request samples):
 * - `text_analysis` `{text, max_tokens?}`: the analysis prompt (config `generation_tasks.text_analysis`);
 * - `knowledge_processing` `{knowledge_data, max_tokens?}`: the knowledge prompt (structured data as JSON);
 * - `chat_inference` `{messages}` or `{prompt}` (a prompt is one user message), with sampling parameters.
 * Each takes `model` (or the seeds' `model_id`; `"default"` is the default model). They are offered while the
 * default model can serve; a request for a model that cannot serve gets its 503.
 */
export function createTextGenerationTasks(
  generators: GeneratorRegistry,
  config: GenerationTasksConfig,
): TaskPipeline[] {
  const models = new TaskModels(generators, config.model)
  const common = {
    models: generators.names,
    choosesModel: true,
    unavailableReason: () => models.unavailableReason(),
  }
  const textAnalysis: TaskPipeline<TextAnalysisInput, TextGenerationResult> = {
    ...common,
    type: 'text_analysis',
    inputSchema: TextAnalysisInputSchema,
    legacyInput: (data) => (typeof data === 'string' ? { text: data } : data),
    run: (input, ctx) =>
      generateText(
        ctx,
        models.choose(input),
        promptInput(config.text_analysis, '{text}', input.text),
        ifSet(input.max_tokens ?? config.text_analysis.max_tokens),
      ),
  }
  const knowledgeProcessing: TaskPipeline<KnowledgeProcessingInput, TextGenerationResult> = {
    ...common,
    type: 'knowledge_processing',
    inputSchema: KnowledgeProcessingInputSchema,
    legacyInput: (data) => (typeof data === 'string' ? { knowledge_data: data } : data),
    run: (input, ctx) => {
      const data =
        typeof input.knowledge_data === 'string'
          ? input.knowledge_data
          : JSON.stringify(input.knowledge_data, null, 2)
      return generateText(
        ctx,
        models.choose(input),
        promptInput(config.knowledge_processing, '{knowledge_data}', data),
        ifSet(input.max_tokens ?? config.knowledge_processing.max_tokens),
      )
    },
  }
  const chatInference: TaskPipeline<ChatInferenceInput, TextGenerationResult> = {
    ...common,
    type: 'chat_inference',
    inputSchema: ChatInferenceInputSchema,
    legacyInput: (data) => (typeof data === 'string' ? { prompt: data } : data),
    run: (input, ctx) => {
      const messages = input.messages
        ? input.messages.map(templateMessage)
        : [{ role: 'user', content: input.prompt as string }]
      const stop =
        input.stop === undefined ? undefined : typeof input.stop === 'string' ? [input.stop] : input.stop
      const parameters: GenerationParameters = {
        ...ifSet(input.max_tokens),
        ...(input.temperature !== undefined ? { temperature: input.temperature } : {}),
        ...(input.top_p !== undefined ? { top_p: input.top_p } : {}),
        ...(input.top_k !== undefined ? { top_k: input.top_k } : {}),
        ...(input.repetition_penalty !== undefined ? { repetition_penalty: input.repetition_penalty } : {}),
        ...(input.seed !== undefined ? { seed: input.seed } : {}),
        ...(stop ? { stop } : {}),
      }
      return generateText(ctx, models.choose(input), { kind: 'chat', messages }, parameters)
    },
  }
  return [textAnalysis, knowledgeProcessing, chatInference] as TaskPipeline[]
}
