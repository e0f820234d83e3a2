// The per-token fast path of a stream frames each piece exactly as the full chunk would serialize it.
import { ChatCompletionChunkSchema, CompletionChunkSchema } from '@npu-fleet/protocol'
import { describe, expect, it } from 'vitest'
import { chunkBody, pieceEventWriter, responseHeader, sseEvent } from '../../src/openai/openai-response.js'

describe('pieceEventWriter', () => {
  it('gives the bytes sseEvent(chunkBody(...)) gives, for awkward text too', () => {
    for (const kind of ['chat', 'completion'] as const) {
      for (const includeUsage of [false, true]) {
        const header = responseHeader(kind, 'm"odel', 'onnxruntime', 'CPU')
        const piece = pieceEventWriter(kind, header, includeUsage)
        for (const text of ['hello', '', ' "quoted" \\ back', 'é€😀', '\u0000\n\u2028', 'data: [DONE]']) {
          const framed = piece(text)
          expect(framed).toBe(sseEvent(chunkBody(kind, header, { text }, includeUsage)))
          const parsed = JSON.parse(framed.slice('data: '.length))
          const schema = kind === 'chat' ? ChatCompletionChunkSchema : CompletionChunkSchema
          expect(schema.parse(parsed)).toBeTruthy()
        }
      }
    }
  })
})
