import type { FastifyPluginAsync } from 'fastify'
import { inferBodyOf, parseInferBodies } from '../http/infer-body-parser.js'
import { sendInferResponse } from '../http/infer-reply.js'
import { httpRequestDeadline } from '../http/request-deadline.js'
import { JsonCodecPool } from '../kserve/json-codec-pool.js'
import { findModel, type ModelRef } from '../kserve/model-lookup.js'
import { runInference } from '../kserve/run-inference.js'

/** Options of the KServe infer routes. */
export interface KserveInferRoutesOptions {
  /** The compiled JSON codec thread entry (threads/thread-entries.ts). */
  jsonCodecEntry: URL
}

/**
 * `POST /v2/models/{name}[/versions/{v}]/infer`: KServe v2 inference over REST, JSON or the binary tensor
 * extension. The route only does HTTP: the body, the deadline header, the reply framing; the inference itself
 * is the one gRPC runs too (kserve/run-inference.ts).
 */
const kserveInferRoutes: FastifyPluginAsync<KserveInferRoutesOptions> = async (app, options) => {
  // Large JSON bodies are parsed and decoded on a thread of their own (json-codec-pool.ts).
  const jsonPool = new JsonCodecPool(options.jsonCodecEntry)
  app.addHook('onClose', () => jsonPool.close())
  parseInferBodies(app, jsonPool)

  for (const url of ['/v2/models/:name/infer', '/v2/models/:name/versions/:version/infer']) {
    app.post<{ Params: ModelRef }>(url, async (request, reply) => {
      const model = findModel(app.registry, request.params)
      const answer = await runInference(app, model, inferBodyOf(request), {
        rawOutputsByDefault: false,
        deadline: (parameterMs) =>
          httpRequestDeadline(request, reply, app.workerConfig.request_timeout_ms, parameterMs),
      })
      return sendInferResponse(reply, answer, jsonPool)
    })
  }
}

export default kserveInferRoutes
