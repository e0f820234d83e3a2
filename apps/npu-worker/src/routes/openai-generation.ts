import { SSE_DONE } from '@npu-fleet/protocol'
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import { ErrModelNotFound, ErrNotServing } from '../errors.js'
import { httpRequestDeadline } from '../http/request-deadline.js'
import type { RegisteredGenerator } from '../models/registered-generator.js'
import {
  type GenerationRequest,
  parseChatCompletionRequest,
  parseCompletionRequest,
} from '../openai/generation-request.js'
import { openAiErrorBody } from '../openai/openai-error.js'
import {
  chunkBody,
  completionBody,
  type OpenAiKind,
  pieceEventWriter,
  responseHeader,
  usageChunkBody,
  usageOf,
} from '../openai/openai-response.js'
import { SseWriter } from '../openai/sse-writer.js'

/** Response headers naming where a generation ran (the pool shows which worker and device answered). */
export const BACKEND_HEADER = 'x-npu-backend'
/** Response header: the device the generation ran on. */
export const DEVICE_HEADER = 'x-npu-device'

/** The language model a request names: 404 listing the ones there are (and pointing embedders to their route). */
export function findGenerator(app: FastifyInstance, name: string): RegisteredGenerator {
  const model = app.generators.resolve(name)
  if (model) return model
  const known = app.generators.names.join(', ') || 'none'
  const embedder = app.registry.versions(name).some((m) => m.manifest.embeddings)
  throw new ErrModelNotFound(
    embedder
      ? `${name} is an embeddings model; use /v1/embeddings (language models: ${known})`
      : `${name} (language models: ${known})`,
  )
}

/** Runs one OpenAI generation request: a JSON answer, or server-sent events once the first piece is there. */
async function serve(
  app: FastifyInstance,
  kind: OpenAiKind,
  request: FastifyRequest,
  reply: FastifyReply,
  parsed: GenerationRequest,
): Promise<unknown> {
  if (app.lifecycle.state !== 'serving') throw new ErrNotServing(app.lifecycle.state)
  const model = findGenerator(app, parsed.model)
  const { deadlineMs, signal } = httpRequestDeadline(request, reply, app.workerConfig.request_timeout_ms)
  if (parsed.user) request.log.debug({ user: parsed.user, model: parsed.model }, 'generation request')
  if (!parsed.stream) {
    const run = await app.generation.run(model, parsed.input, parsed.parameters, { signal, deadlineMs })
    reply.header(BACKEND_HEADER, run.backend).header(DEVICE_HEADER, run.device)
    const header = responseHeader(kind, parsed.model, run.backend, run.device)
    return completionBody(kind, header, run.result.text, run.result.finish_reason, usageOf(run.result.usage))
  }

  const generator = model.ready()
  if (!generator) throw model.notReadyError()
  const header = responseHeader(kind, parsed.model, generator.backend, generator.device)
  // Headers go out with the first piece of text, not before: a request refused before any text (a prompt too
  // long, the deadline while queued) still gets its own status and JSON error, and a client (or the pool) can
  // retry it elsewhere.
  const sse = new SseWriter(reply, { [BACKEND_HEADER]: generator.backend, [DEVICE_HEADER]: generator.device })
  const piece = pieceEventWriter(kind, header, parsed.includeUsage)
  const begin = () => {
    if (sse.opened) return
    sse.open()
    if (kind === 'chat') sse.event(chunkBody(kind, header, { first: true, text: '' }, parsed.includeUsage))
  }
  try {
    const run = await app.generation.run(model, parsed.input, parsed.parameters, {
      signal,
      deadlineMs,
      onChunk: ({ text }) => {
        begin()
        sse.text(piece(text))
      },
    })
    begin()
    sse.event(chunkBody(kind, header, { finishReason: run.result.finish_reason }, parsed.includeUsage))
    if (parsed.includeUsage) sse.event(usageChunkBody(kind, header, usageOf(run.result.usage)))
    sse.event(SSE_DONE)
  } catch (error) {
    if (!sse.opened) throw error
    // Text went out already: the error is the stream's last event (OpenAI's SDKs throw it), with no [DONE].
    const failure = error as Error & { statusCode?: number; code?: string }
    if ((failure.statusCode ?? 500) >= 500 && failure.statusCode !== 503) {
      request.log.warn({ err: failure }, 'generation failed mid-stream')
    }
    sse.event(openAiErrorBody(failure))
  }
  sse.end()
  return reply
}

/**
 * OpenAI-compatible text generation: `POST /v1/chat/completions` (the model's own chat template) and
 * `POST /v1/completions` (the prompt as is), non-streaming or as server-sent events (`data: {chunk}` ...
 * `data: [DONE]`). Errors take OpenAI's shape (app.ts), with the worker's NPU_ERR_* codes.
 */
const openAiGenerationRoutes: FastifyPluginAsync = async (app) => {
  app.post('/v1/chat/completions', async (request, reply) =>
    serve(app, 'chat', request, reply, parseChatCompletionRequest(request.body)),
  )
  app.post('/v1/completions', async (request, reply) =>
    serve(app, 'completion', request, reply, parseCompletionRequest(request.body)),
  )
}

export default openAiGenerationRoutes
