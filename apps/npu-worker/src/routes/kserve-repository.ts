import { formatIssues, RepositoryIndexRequestSchema, type RepositoryIndexResponse } from '@npu-fleet/protocol'
import type { FastifyPluginAsync } from 'fastify'
import { ErrMalformedBody } from '../errors.js'

/**
 * The model repository extension's REST routes (Triton's): the index of the model folder, and load and unload
 * of one model (README "Model repository"). They need the bearer token like every non-public route.
 */
const kserveRepositoryRoutes: FastifyPluginAsync = async (app) => {
  app.post('/v2/repository/index', async (request): Promise<RepositoryIndexResponse> => {
    const parsed = RepositoryIndexRequestSchema.safeParse(request.body ?? {})
    if (!parsed.success) throw new ErrMalformedBody(formatIssues(parsed.error, 'body'))
    return app.repository.index(parsed.data.ready === true)
  })

  app.post<{ Params: { name: string } }>('/v2/repository/models/:name/load', async (request, reply) => {
    await app.repository.load(request.params.name)
    return reply.code(200).send()
  })

  app.post<{ Params: { name: string } }>('/v2/repository/models/:name/unload', async (request, reply) => {
    await app.repository.unload(request.params.name)
    return reply.code(200).send()
  })
}

export default kserveRepositoryRoutes
