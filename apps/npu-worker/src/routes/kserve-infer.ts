import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import { ErrQueueFull } from '../errors.js'
import { inferBodyOf, parseInferBodies } from '../http/infer-body-parser.js'
import { sendInferResponse } from '../http/infer-reply.js'
import { httpInferDeadline } from '../http/request-deadline.js'
import { InputBufferPool } from '../kserve/input-buffer-pool.js'
import { JsonCodecPool } from '../kserve/json-codec-pool.js'
import { findModel, type ModelRef } from '../kserve/model-lookup.js'
import { runInference } from '../kserve/run-inference.js'
import type { AdmissionTicket } from '../scheduler/admission-ticket.js'

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
  // Binary tensor bytes go into buffers the inference threads hand back (no page faults on a fresh mmap).
  const inputBuffers = new InputBufferPool()
  const recycleInputs = (buffer: ArrayBuffer) => inputBuffers.give(buffer)
  app.addHook('onClose', () => inputBuffers.clear())
  parseInferBodies(app, jsonPool, inputBuffers)

  // Admission before the body is read: a request for a model whose queue is full is refused (503 +
  // Retry-After) before a byte of its body is read or copied, and its connection closes after the answer
  // (a lingering close, http/lingering-close.ts, so a client still sending gets the 503, not a reset). An
  // admitted request holds its place while its body arrives; a burst cannot all pass before any is queued.
  const tickets = new WeakMap<FastifyRequest, AdmissionTicket>()
  // The callback form: an async hook costs a promise and a microtask on every request.
  app.addHook('preParsing', (request, reply, payload, done) => {
    let admitted: AdmissionTicket | ErrQueueFull | null = null
    try {
      const model = findModel(app.registry, request.params as ModelRef)
      if (model.ready() && app.lifecycle.state === 'serving') admitted = app.scheduler.queue(model).admit()
    } catch {
      // An unknown model or a bad name: the handler answers it (404/400) as always.
    }
    if (admitted instanceof ErrQueueFull) {
      reply.header('connection', 'close')
      done(admitted)
      return
    }
    if (admitted) {
      const ticket = admitted
      tickets.set(request, ticket)
      // Whatever happens to the request (an answer, a 4xx, the client gone), the place is given back.
      reply.raw.once('close', () => ticket.release())
    }
    done(null, payload)
  })

  for (const url of ['/v2/models/:name/infer', '/v2/models/:name/versions/:version/infer']) {
    app.post<{ Params: ModelRef }>(url, async (request, reply) => {
      const model = findModel(app.registry, request.params)
      const ticket = tickets.get(request)
      const answer = await runInference(app, model, inferBodyOf(request), {
        rawOutputsByDefault: false,
        recycleInputs,
        ...(ticket ? { ticket } : {}),
        deadline: (parameterMs) =>
          httpInferDeadline(request, reply, app.workerConfig.request_timeout_ms, parameterMs),
      })
      return sendInferResponse(reply, answer, jsonPool)
    })
  }
}

export default kserveInferRoutes
