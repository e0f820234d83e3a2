import {
  type EmbeddingsResponse,
  formatIssues,
  type LegacyEmbeddingResponse,
  LegacyInferenceRequestSchema,
  type TaskResponse,
} from '@npu-fleet/protocol'
import type { FastifyPluginAsync } from 'fastify'
import { ErrBadTaskInput, ErrMalformedBody, ErrModelNotFound } from '../errors.js'
import { findPipeline } from '../tasks/find-pipeline.js'
import { runTask, taskEnvelope } from '../tasks/run-task.js'

/**
 * Routes the clients of the replaced system call, dispatched to the same pipelines as `/v1/tasks`.
 * They answer with real results or a 4xx/5xx error: never a placeholder (the old worker returned
 * hash-seeded vectors with HTTP 200 when inference failed).
 */
const legacyRoutes: FastifyPluginAsync = async (app) => {
  // Body: a bare JSON array of strings; the model comes from the query string.
  app.post<{ Querystring: { model_name?: string } }>('/embedding/generate', async (request, reply) => {
    const texts = request.body
    if (!Array.isArray(texts)) {
      throw new ErrMalformedBody('expected a JSON array of strings, e.g. ["first text", "second text"]')
    }
    const bad = texts.findIndex((t) => typeof t !== 'string')
    if (bad !== -1) throw new ErrBadTaskInput(`[${bad}]: expected a string, got ${typeof texts[bad]}`)
    if (texts.length === 0) throw new ErrBadTaskInput('body: expected at least one text')
    const pipeline = findPipeline(app, 'embeddings')
    const modelName = request.query.model_name
    const input = { input: texts, ...(modelName ? { model: modelName } : {}) }
    const run = await runTask(app, pipeline, input, request, reply)
    const result = run.result as EmbeddingsResponse
    const response: LegacyEmbeddingResponse = {
      embeddings: result.data.map((d) => d.embedding),
      model_used: result.model,
      processing_time_ms: Math.round(run.durationMs * 1000) / 1000,
      texts_processed: result.data.length,
      device: run.device,
    }
    return response
  })

  // Body: { task_type, model_name?, input_data }: input_data is the task's input (for embeddings a
  // string or an array of strings is accepted as well); the reply is the /v1/tasks envelope.
  app.post('/inference', async (request, reply): Promise<TaskResponse> => {
    if (request.body === undefined || request.body === null || typeof request.body !== 'object') {
      throw new ErrMalformedBody('expected a JSON object like {"task_type": "ocr", "input_data": {...}}')
    }
    const parsed = LegacyInferenceRequestSchema.safeParse(request.body)
    if (!parsed.success) throw new ErrBadTaskInput(formatIssues(parsed.error))
    const { task_type: taskType, model_name: modelName, input_data: inputData } = parsed.data
    const pipeline = findPipeline(app, taskType, 'task_type')
    if (modelName !== undefined && !pipeline.models.includes(modelName)) {
      throw new ErrModelNotFound(
        `${modelName} (task ${taskType} uses: ${pipeline.models.join(', ')})`,
        pipeline.models,
      )
    }
    const input: unknown = pipeline.legacyInput ? pipeline.legacyInput(inputData) : inputData
    if (input === undefined || input === null || typeof input !== 'object' || Array.isArray(input)) {
      throw new ErrBadTaskInput(`input_data: expected the ${taskType} task's input object`)
    }
    const run = await runTask(
      app,
      pipeline,
      modelName !== undefined && pipeline.choosesModel ? { ...input, model: modelName } : input,
      request,
      reply,
    )
    return taskEnvelope(pipeline.type, run)
  })
}

export default legacyRoutes
