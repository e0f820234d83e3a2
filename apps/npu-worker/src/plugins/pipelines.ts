import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import fp from 'fastify-plugin'
import { createEmbeddingsPipeline } from '../tasks/embeddings/embeddings-pipeline.js'
import { createOcrPipeline } from '../tasks/ocr/ocr-pipeline.js'

/**
 * Registers the task pipelines the model repository can serve: `ocr` when it holds the PP-OCR detection
 * and recognition models (the angle classifier is optional), `embeddings` when any model has an
 * `embeddings:` section. A task whose models are missing is not registered at all, so it is a clear 404
 * listing what is available rather than a task that can never become ready.
 */
export default fp(
  async (app) => {
    const { registry, tasks } = app
    const has = (name: string) => registry.versions(name).length > 0
    if (has('ppocr-det') && has('ppocr-rec')) {
      // The recognizer's own dictionary when its folder has one (a swapped-in model), else the package's.
      const rec = registry.resolve('ppocr-rec')
      const dictionary = rec ? join(dirname(rec.modelPath), '..', 'ppocr_keys_v1.txt') : null
      tasks.add(
        createOcrPipeline({
          ...(dictionary && existsSync(dictionary) ? { dictionaryPath: dictionary } : {}),
          clsModel: has('ppocr-cls') ? 'ppocr-cls' : null,
          modelInputShape: (name) => registry.resolve(name)?.ready()?.inputs[0]?.shape,
        }),
      )
    }
    const embeddings = createEmbeddingsPipeline(registry)
    if (embeddings.models.length > 0) tasks.add(embeddings)
  },
  { name: 'pipelines', dependencies: ['registry', 'tasks'], fastify: '5.x' },
)
