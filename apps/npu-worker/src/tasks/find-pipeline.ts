import type { FastifyInstance } from 'fastify'
import { ErrBadTaskInput, ErrModelNotReady, ErrTaskNotFound } from '../errors.js'
import type { TaskPipeline } from './task-pipeline.js'

const TASK_TYPE = /^[a-z][a-z0-9_-]{0,63}$/

/**
 * The pipeline serving `type` now. A type that is not registered is 404 NPU_ERR_TASK_NOT_FOUND with the
 * types that are available; a registered type whose models are not ready is 503 NPU_ERR_MODEL_NOT_READY.
 */
export function findPipeline(app: FastifyInstance, type: string, field = 'type'): TaskPipeline {
  if (!TASK_TYPE.test(type)) {
    throw new ErrBadTaskInput(
      `${field}: expected a task type like "ocr", got ${JSON.stringify(type).slice(0, 80)}`,
    )
  }
  const pipeline = app.tasks.get(type)
  if (pipeline) return pipeline
  if (app.tasks.has(type)) throw new ErrModelNotReady(`for task ${type}`, 'loading or failed; see /health')
  throw new ErrTaskNotFound(type, app.tasks.available())
}
