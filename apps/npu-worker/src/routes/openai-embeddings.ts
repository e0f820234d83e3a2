import type { EmbeddingsResponse } from '@npu-fleet/protocol'
import type { FastifyPluginAsync } from 'fastify'
import { ErrBadTaskInput, ErrMalformedBody } from '../errors.js'
import { findPipeline } from '../tasks/find-pipeline.js'
import { runTask } from '../tasks/run-task.js'

/** OpenAI's `encoding_format: "base64"`: the float32 little-endian bytes of each vector (the official SDKs ask for it). */
function toBase64(embedding: readonly number[]): string {
  const bytes = Buffer.alloc(embedding.length * 4)
  for (let i = 0; i < embedding.length; i++) bytes.writeFloatLE(embedding[i] ?? 0, i * 4)
  return bytes.toString('base64')
}

/** `POST /v1/embeddings`: OpenAI-compatible, served by the `embeddings` task pipeline. */
const openAiEmbeddingsRoutes: FastifyPluginAsync = async (app) => {
  app.post('/v1/embeddings', async (request, reply) => {
    const body = request.body
    if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body)) {
      throw new ErrMalformedBody('expected a JSON object like {"input": "text", "model": "name"}')
    }
    const format = (body as { encoding_format?: unknown }).encoding_format
    if (format !== undefined && format !== 'float' && format !== 'base64') {
      throw new ErrBadTaskInput(
        `encoding_format: expected "float" or "base64", got ${JSON.stringify(format)}`,
      )
    }
    if ((body as { dimensions?: unknown }).dimensions !== undefined) {
      throw new ErrBadTaskInput('dimensions: not supported; the model decides the vector size')
    }
    const pipeline = findPipeline(app, 'embeddings')
    const run = await runTask(app, pipeline, body, request, reply)
    const result = run.result as EmbeddingsResponse
    if (format !== 'base64') return result
    return { ...result, data: result.data.map((d) => ({ ...d, embedding: toBase64(d.embedding) })) }
  })
}

export default openAiEmbeddingsRoutes
