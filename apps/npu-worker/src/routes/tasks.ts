import type { TaskResponse } from '@npu-fleet/protocol'
import type { FastifyPluginAsync } from 'fastify'
import { ErrMalformedBody, ErrUnsupportedMediaType } from '../errors.js'
import { findPipeline } from '../tasks/find-pipeline.js'
import { runTask, taskEnvelope } from '../tasks/run-task.js'

/** Takes `image/*` bodies as raw bytes; each pipeline says which media types it accepts. */
export function acceptRawImages(app: Parameters<FastifyPluginAsync>[0]): void {
  app.addContentTypeParser(/^image\/[a-z0-9.+-]+$/i, { parseAs: 'buffer' }, (_request, body, done) =>
    done(null, body),
  )
}

/** `POST /v1/tasks/{type}`: the one task API the pool calls. */
const taskRoutes: FastifyPluginAsync = async (app) => {
  acceptRawImages(app)

  app.post<{ Params: { type: string }; Querystring: Record<string, string | undefined> }>(
    '/v1/tasks/:type',
    async (request, reply): Promise<TaskResponse> => {
      const pipeline = findPipeline(app, request.params.type)
      let input: unknown = request.body
      const raw = Buffer.isBuffer(input)
      if (raw) {
        const mediaType = (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? ''
        if (!pipeline.rawBody?.contentTypes.includes(mediaType)) {
          const accepted = ['application/json', ...(pipeline.rawBody?.contentTypes ?? [])].join(', ')
          throw new ErrUnsupportedMediaType(`${mediaType} for task ${pipeline.type} (accepted: ${accepted})`)
        }
        input = pipeline.rawBody.toInput(input as Buffer, request.query)
      } else if (input === undefined || input === null || typeof input !== 'object' || Array.isArray(input)) {
        throw new ErrMalformedBody(`expected a JSON object with the ${pipeline.type} task's input`)
      }
      const run = await runTask(app, pipeline, input, request, reply, raw)
      return taskEnvelope(pipeline.type, run)
    },
  )
}

export default taskRoutes
