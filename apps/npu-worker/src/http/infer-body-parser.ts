import { INFERENCE_HEADER_CONTENT_LENGTH } from '@npu-fleet/protocol'
import type { FastifyInstance } from 'fastify'
import type { InferBody } from '../kserve/infer-body.js'
import type { InputBufferPool } from '../kserve/input-buffer-pool.js'
import type { JsonCodecPool } from '../kserve/json-codec-pool.js'
import { readInferBody } from './infer-body-reader.js'

/**
 * Makes every body of `app` (an encapsulated plugin holding the infer routes) an {@link InferBody}. Infer
 * bodies are read as bytes: with the binary tensor extension (Inference-Header-Content-Length) the JSON part is
 * followed by raw tensor bytes, under any content type (Triton's client sends none). Another media type
 * becomes `{kind: 'unsupported'}`, refused by decodeRequest once the route has found the model (404 first).
 * Binary tensor bytes are read into buffers from `inputBuffers`.
 */
export function parseInferBodies(
  app: FastifyInstance,
  jsonPool: JsonCodecPool,
  inputBuffers: InputBufferPool,
): void {
  const parseJson = app.getDefaultJsonParser('error', 'error')
  const jsonText = (text: string): unknown => {
    let result: unknown
    let failure: Error | undefined
    parseJson({} as never, text, (error, value) => {
      failure = error ?? undefined
      result = value
    })
    if (failure) throw failure
    return result
  }
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', (request, payload, done) => {
    const contentType = request.headers['content-type']
    const binary = request.headers[INFERENCE_HEADER_CONTENT_LENGTH]
    if (binary === undefined && contentType !== undefined && !/^application\/json\b/i.test(contentType)) {
      payload.resume()
      done(null, { kind: 'unsupported', contentType } satisfies InferBody)
      return
    }
    const limit = request.routeOptions.bodyLimit ?? app.initialConfig.bodyLimit ?? 1_048_576
    readInferBody(payload, request.headers, limit, jsonText, jsonPool, inputBuffers).then(
      (body) => done(null, body),
      (error: Error) => done(error),
    )
  })
}

/** The body the parser above produced; a request without one (no body at all) is an empty JSON body. */
export function inferBodyOf(request: { body: unknown }): InferBody {
  return (request.body as InferBody | undefined) ?? { kind: 'json', json: undefined }
}
