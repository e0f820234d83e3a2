import { connect, type Socket } from 'node:net'
import Fastify, { type FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { sendInferResponse } from '../../src/http/infer-reply.js'
import type { EncodedResponse } from '../../src/kserve/encode-response.js'
import { JsonCodecPool } from '../../src/kserve/json-codec-pool.js'
import { DIST_THREAD_ENTRIES } from '../helpers/thread-entries.js'

// A big JSON answer is written by the JSON thread, and its text freed once the socket took every byte
// (threads/free-array-buffers.ts). Over a real loopback socket whose client does not read for a while, so the
// answer's writes are still pending when the handler returns: the client must get every number intact, and the
// text must be freed only after that.

const ELEMENTS = 600_000 // ~7 MB of JSON: more than loopback's socket buffers take before the client reads
const values = Float32Array.from({ length: ELEMENTS }, (_, i) => Math.sin(i * 0.001) * 1e3)

/** The output buffers of binary answers sent, to check they are freed once written. */
const binaryOutputs: ArrayBuffer[] = []

function binaryAnswer(): EncodedResponse {
  const data = values.slice()
  binaryOutputs.push(data.buffer)
  return {
    model_name: 'm',
    model_version: '1',
    id: 'bin',
    outputs: [
      {
        name: 'y',
        datatype: 'FP32',
        shape: [ELEMENTS],
        tensor: { datatype: 'FP32', shape: [ELEMENTS], data },
        raw: new Uint8Array(data.buffer),
      },
    ],
  }
}

let app: FastifyInstance
let pool: JsonCodecPool
let port: number
const encoded: Buffer[] = []

function answer(): EncodedResponse {
  const data = values.slice()
  return {
    model_name: 'm',
    model_version: '1',
    id: 'big',
    outputs: [
      {
        name: 'y',
        datatype: 'FP32',
        shape: [ELEMENTS],
        tensor: { datatype: 'FP32', shape: [ELEMENTS], data },
        raw: null,
      },
    ],
  }
}

beforeAll(async () => {
  pool = new JsonCodecPool(DIST_THREAD_ENTRIES.jsonCodec)
  const encode = pool.encode.bind(pool)
  vi.spyOn(pool, 'encode').mockImplementation(async (header, tensors) => {
    const json = await encode(header, tensors)
    encoded.push(json)
    return json
  })
  app = Fastify()
  app.get('/big', (_request, reply) => sendInferResponse(reply, answer(), pool))
  app.get('/big-binary', (_request, reply) => sendInferResponse(reply, binaryAnswer(), pool))
  await app.listen({ host: '127.0.0.1', port: 0 })
  port = (app.server.address() as { port: number }).port
})

afterAll(async () => {
  await app?.close()
  await pool?.close()
})

/** Sends GET `path` and, after `waitMs` without reading, reads until the response's end; returns the body. */
async function slowGet(waitMs: number, path = '/big'): Promise<string> {
  return (await slowGetBytes(waitMs, path)).toString('utf8')
}

async function slowGetBytes(waitMs: number, path: string): Promise<Buffer> {
  const socket: Socket = connect(port, '127.0.0.1')
  await new Promise((resolve) => socket.once('connect', resolve))
  socket.pause()
  socket.write(`GET ${path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n`)
  await new Promise((resolve) => setTimeout(resolve, waitMs))
  const chunks: Buffer[] = []
  socket.on('data', (chunk: Buffer) => chunks.push(chunk))
  socket.resume()
  await new Promise((resolve) => socket.once('end', resolve))
  socket.destroy()
  const bytes = Buffer.concat(chunks)
  const split = bytes.indexOf('\r\n\r\n')
  expect(bytes.subarray(0, split).toString('latin1')).toMatch(/^HTTP\/1\.1 200/)
  return bytes.subarray(split + 4)
}

describe('sendInferResponse, a big JSON answer', () => {
  it('reaches a slow client whole, and its text is freed only after the socket took it', async () => {
    const before = encoded.length
    const bodies = await Promise.all([slowGet(300), slowGet(150)])
    expect(encoded.length).toBe(before + 2)
    for (const body of bodies) {
      const parsed = JSON.parse(body) as { id: string; outputs: Array<{ data: number[] }> }
      expect(parsed.id).toBe('big')
      const data = parsed.outputs[0]?.data ?? []
      expect(data).toHaveLength(ELEMENTS)
      for (let i = 0; i < ELEMENTS; i += 1009) expect(data[i]).toBe(values[i])
      expect(data[ELEMENTS - 1]).toBe(values[ELEMENTS - 1])
    }
    // Both texts were freed (detached) once written.
    expect(encoded.slice(before).map((b) => b.buffer.byteLength)).toEqual([0, 0])
  })

  it('survives a client that gives up mid-answer, and keeps serving whole answers', async () => {
    const before = encoded.length
    const socket = connect(port, '127.0.0.1')
    await new Promise((resolve) => socket.once('connect', resolve))
    socket.write('GET /big HTTP/1.1\r\nhost: x\r\n\r\n')
    await new Promise((resolve) => socket.once('data', resolve))
    socket.destroy()
    await vi.waitFor(() => expect(encoded.length).toBe(before + 1))
    // Freed only if the kernel had taken every byte before the reset ('finish'); else left to the collector.
    await new Promise((resolve) => setTimeout(resolve, 100))
    const body = JSON.parse(await slowGet(0)) as { outputs: Array<{ data: number[] }> }
    expect(body.outputs[0]?.data).toHaveLength(ELEMENTS)
  })

  it('streams a big binary answer whole to a slow client, and frees its output buffer once written', async () => {
    const before = binaryOutputs.length
    const body = await slowGetBytes(300, '/big-binary')
    const headerLength = body.indexOf('}}]}') + 4
    expect(JSON.parse(body.subarray(0, headerLength).toString('utf8'))).toMatchObject({ id: 'bin' })
    const tensor = body.subarray(headerLength)
    expect(tensor.length).toBe(ELEMENTS * 4)
    expect(
      new Float32Array(tensor.buffer.slice(tensor.byteOffset, tensor.byteOffset + tensor.length)),
    ).toEqual(values)
    expect(binaryOutputs[before]?.byteLength).toBe(0)
  })
})
