import fp from 'fastify-plugin'
import { createEmbeddingsPipeline } from '../tasks/embeddings/embeddings-pipeline.js'
import { ocrTaskFor } from '../tasks/ocr/ocr-task.js'

/**
 * Registers the task pipelines the model repository can serve: `ocr` when it holds the PP-OCR models
 * (tasks/ocr/ocr-task.ts decides), `embeddings` when any model has an `embeddings:` section. A task whose
 * models are missing is not registered at all.
 */
export default fp(
  async (app) => {
    const { registry, tasks } = app
    const ocr = ocrTaskFor(registry)
    if (ocr) tasks.add(ocr)
    const embeddings = createEmbeddingsPipeline(registry)
    if (embeddings.models.length > 0) tasks.add(embeddings)
  },
  { name: 'pipelines', dependencies: ['registry', 'tasks'], fastify: '5.x' },
)
