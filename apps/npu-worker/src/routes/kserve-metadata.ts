import type { ModelConfig, ModelMetadata, ModelStatisticsResponse, ServerMetadata } from '@npu-fleet/protocol'
import type { FastifyPluginAsync, FastifyReply } from 'fastify'
import {
  isModelReady,
  isServerReady,
  modelConfig,
  modelMetadata,
  serverMetadata,
} from '../kserve/metadata.js'
import { findModel, type ModelRef } from '../kserve/model-lookup.js'
import { modelStatistics } from '../kserve/statistics.js'

/** Both URL forms of a per-model route: `/v2/models/{name}` and `/v2/models/{name}/versions/{v}`. */
function bothForms(suffix: string): string[] {
  return [`/v2/models/:name${suffix}`, `/v2/models/:name/versions/:version${suffix}`]
}

/**
 * KServe v2 / Open Inference Protocol REST routes that describe the server and its models (health,
 * metadata, readiness, configuration, statistics), as OpenVINO Model Server and Triton serve them.
 */
const kserveMetadataRoutes: FastifyPluginAsync = async (app) => {
  app.get('/v2/health/live', async () => ({ live: true }))

  app.get('/v2/health/ready', async (_request, reply) => {
    const ready = isServerReady(app.lifecycle, app.registry)
    return reply.code(ready ? 200 : 503).send({ ready })
  })

  app.get('/v2', async (): Promise<ServerMetadata> => serverMetadata())

  for (const url of bothForms('')) {
    app.get<{ Params: ModelRef }>(
      url,
      async (request): Promise<ModelMetadata> =>
        modelMetadata(app.registry, findModel(app.registry, request.params)),
    )
  }

  for (const url of bothForms('/ready')) {
    app.get<{ Params: ModelRef }>(url, async (request, reply: FastifyReply) => {
      const model = findModel(app.registry, request.params)
      const ready = isModelReady(app.lifecycle, model)
      return reply.code(ready ? 200 : 503).send({ name: model.name, version: model.version, ready })
    })
  }

  for (const url of bothForms('/config')) {
    app.get<{ Params: ModelRef }>(
      url,
      async (request): Promise<ModelConfig> => modelConfig(findModel(app.registry, request.params)),
    )
  }

  // The statistics extension; `/v2/models/stats` is a static route, so it wins over a model named "stats".
  for (const url of ['/v2/models/stats', ...bothForms('/stats')]) {
    app.get<{ Params: Partial<ModelRef> }>(
      url,
      async (request): Promise<ModelStatisticsResponse> =>
        modelStatistics(app.registry, app.metrics.statistics, request.params),
    )
  }
}

export default kserveMetadataRoutes
