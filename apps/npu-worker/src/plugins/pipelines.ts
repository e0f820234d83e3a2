import fp from 'fastify-plugin'
import { createTextClassificationPipeline } from '../tasks/classification/text-classification-pipeline.js'
import { createEmbeddingsPipeline } from '../tasks/embeddings/embeddings-pipeline.js'
import { createTextGenerationTasks } from '../tasks/generation/text-generation-tasks.js'
import { ocrTaskFor } from '../tasks/ocr/ocr-task.js'
import { createSemanticSearchPipeline } from '../tasks/semantic-search/semantic-search-pipeline.js'
import type { TaskPipeline } from '../tasks/task-pipeline.js'

/**
 * Registers the task pipelines the model repository can serve: `ocr` when it holds the PP-OCR models
 * (tasks/ocr/ocr-task.ts decides), `embeddings` when any model has an `embeddings:` section (with its alias
 * `embedding_generation`, and `semantic_search` on top), the language-model tasks (`text_analysis`,
 * `knowledge_processing`, `chat_inference`) when a model has a `generation:` section, and `text_classification`
 * when one has a `classification:` section. A task whose models are missing is not registered at all, so it is
 * a clear 404 listing what is available rather than a task that can never become ready, and never one that
 * answers with made-up text.
 */
export default fp(
  async (app) => {
    const { registry, tasks } = app
    const ocr = ocrTaskFor(registry)
    if (ocr) tasks.add(ocr)
    const embeddings = createEmbeddingsPipeline(registry)
    if (embeddings.models.length > 0) {
      tasks.add(embeddings)
      // The old system's name for the same task: the same input, the same result.
      tasks.add({ ...embeddings, type: 'embedding_generation' } as TaskPipeline)
      tasks.add(createSemanticSearchPipeline(embeddings) as TaskPipeline)
    }
    if (app.generators.names.length > 0) {
      for (const pipeline of createTextGenerationTasks(app.generators, app.workerConfig.generation_tasks)) {
        tasks.add(pipeline)
      }
    }
    const classification = createTextClassificationPipeline(registry)
    if (classification) tasks.add(classification as TaskPipeline)
  },
  { name: 'pipelines', dependencies: ['registry', 'tasks', 'config'], fastify: '5.x' },
)
