import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Fastify, { type FastifyInstance } from 'fastify'
import { request } from 'undici'
import { afterEach, describe, expect, it } from 'vitest'
import { type LingerLimits, type LingerQueue, lingerOnEarlyClose } from '../../src/http/lingering-close.js'
import { systemToolAvailable } from '../helpers/system-tool.js'

// The lingering close against real sockets: a Fastify server that answers before reading the body (its own
// 413 for a declared length over the limit, and a refusal from a hook before the body is parsed, as the
// worker's admission does) and raw TCP clients that behave the way real ones do: one that writes its whole
// body before it reads anything, one that stops early, one that stalls; and undici and curl, which read
// while they send and stop sending once they have the answer.

let app: FastifyInstance | null = null
/** Bytes the server read on each connection, recorded when it closed. */
let readPerConnection: number[] = []
/** The lingering connections' queue of the server under test. */
let lingering: LingerQueue | null = null

afterEach(async () => {
  await app?.close()
  app = null
  readPerConnection = []
})

async function serve(limits?: LingerLimits): Promise<number> {
  app = Fastify({ bodyLimit: 1024 * 1024 })
  app.server.on('connection', (socket: net.Socket) =>
    socket.once('close', () => readPerConnection.push(socket.bytesRead)),
  )
  lingering = lingerOnEarlyClose(app, limits)
  app.addHook('preParsing', async (request, reply) => {
    if (request.headers['x-refuse'] !== undefined) {
      reply.header('connection', 'close').header('retry-after', '1')
      reply.code(503)
      throw Object.assign(new Error('queue full'), { statusCode: 503 })
    }
  })
  app.post('/echo', async (request) => ({ bytes: (request.body as Buffer).length }))
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body))
  await app.listen({ host: '127.0.0.1', port: 0 })
  return (app.server.address() as net.AddressInfo).port
}

interface Exchange {
  /** What the server sent, as text. */
  response: string
  /** Bytes of the body the client managed to write. */
  written: number
  /** The socket error the client saw, if any (EPIPE, ECONNRESET...). */
  error: string | null
}

/**
 * A client that sends `bodyBytes` after its headers and reads nothing until it has written all of it (or the
 * socket broke): the order in which fetch() and many SDKs send a request. `stallAfter` stops writing after
 * that many bytes and keeps the connection open.
 */
function stubbornPost(
  port: number,
  bodyBytes: number,
  { headers = {}, stallAfter }: { headers?: Record<string, string>; stallAfter?: number } = {},
): Promise<Exchange> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1')
    const received: Buffer[] = []
    let written = 0
    let error: string | null = null
    socket.pause()
    const head = Object.entries({
      host: 'localhost',
      'content-type': 'application/octet-stream',
      'content-length': String(bodyBytes),
      ...headers,
    })
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('')
    socket.write(`POST /echo HTTP/1.1\r\n${head}\r\n`)
    const chunk = Buffer.alloc(64 * 1024, 7)
    const readAll = () => {
      socket.on('data', (data: Buffer) => received.push(data))
      socket.resume()
    }
    const writeMore = () => {
      const limit = stallAfter ?? bodyBytes
      while (written < limit && !socket.destroyed) {
        const part = chunk.subarray(0, Math.min(chunk.length, limit - written))
        written += part.length
        if (!socket.write(part)) {
          socket.once('drain', writeMore)
          return
        }
      }
      readAll()
    }
    socket.on('error', (e: NodeJS.ErrnoException) => {
      error = e.code ?? e.message
    })
    socket.on('close', () =>
      resolve({ response: Buffer.concat(received).toString('latin1'), written, error }),
    )
    socket.on('connect', writeMore)
  })
}

describe('lingering close after an early answer', () => {
  it("delivers Fastify's 413 to a client that writes its whole oversized body before reading", async () => {
    const port = await serve()
    const results = await Promise.all(Array.from({ length: 8 }, () => stubbornPost(port, 8 * 1024 * 1024)))
    for (const r of results) {
      expect(r.error).toBeNull()
      expect(r.written).toBe(8 * 1024 * 1024)
      expect(r.response).toMatch(/^HTTP\/1\.1 413 /)
      expect(r.response.toLowerCase()).toContain('connection: close')
    }
  })

  it('delivers a refusal made before the body is read (503 + Retry-After) the same way', async () => {
    const port = await serve()
    const r = await stubbornPost(port, 4 * 1024 * 1024, { headers: { 'x-refuse': '1' } })
    expect(r.error).toBeNull()
    expect(r.response).toMatch(/^HTTP\/1\.1 503 /)
    expect(r.response.toLowerCase()).toContain('retry-after: 1')
  })

  it('delivers the 503 to clients that read while they send (undici); they stop, and only what was in flight is read', async () => {
    const port = await serve()
    const body = Buffer.alloc(32 * 1024 * 1024, 7)
    const results = await Promise.all(
      Array.from({ length: 4 }, async () => {
        const res = await request(`http://127.0.0.1:${port}/echo`, {
          method: 'POST',
          headers: { 'content-type': 'application/octet-stream', 'x-refuse': '1' },
          body,
        })
        return { status: res.statusCode, retryAfter: res.headers['retry-after'], body: await res.body.text() }
      }),
    )
    for (const r of results) expect(r).toMatchObject({ status: 503, retryAfter: '1' })
    // Each connection closes once what was still in flight has been drained.
    while (readPerConnection.length < results.length) await new Promise((r) => setTimeout(r, 20))
    // undici stops sending once it has its answer: what the server read is what was already in flight.
    for (const bytes of readPerConnection) expect(bytes).toBeLessThan(body.length / 4)
  })

  it.runIf(systemToolAvailable('/usr/bin/curl', 'curl'))(
    'delivers the 503 to curl sending a large body; curl stops, and only what was in flight is read',
    async () => {
      const port = await serve()
      const dir = mkdtempSync(join(tmpdir(), 'linger-'))
      try {
        const file = join(dir, 'body')
        writeFileSync(file, Buffer.alloc(32 * 1024 * 1024, 7))
        const out = await new Promise<string>((resolve, reject) =>
          execFile(
            '/usr/bin/curl',
            [
              '-sS',
              '-o',
              '-',
              '-w',
              '\n%{http_code}',
              '-H',
              'x-refuse: 1',
              '-H',
              'content-type: application/octet-stream',
              '--data-binary',
              `@${file}`,
              `http://127.0.0.1:${port}/echo`,
            ],
            (error, stdout, stderr) =>
              error ? reject(new Error(`curl: ${stderr || error.message}`)) : resolve(stdout),
          ),
        )
        expect(out.trim().split('\n').at(-1)).toBe('503')
        while (readPerConnection.length < 1) await new Promise((r) => setTimeout(r, 20))
        expect(readPerConnection[0]).toBeLessThan(8 * 1024 * 1024)
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    },
  )

  it('drains a flood of refused bodies a few connections at a time, and every client still gets its 503', async () => {
    const port = await serve()
    let peakDraining = 0
    let peakWaiting = 0
    const sample = setInterval(() => {
      const sizes = lingering?.sizes ?? { draining: 0, waiting: 0 }
      peakDraining = Math.max(peakDraining, sizes.draining)
      peakWaiting = Math.max(peakWaiting, sizes.waiting)
    }, 1)
    try {
      const results = await Promise.all(
        Array.from({ length: 24 }, () =>
          stubbornPost(port, 2 * 1024 * 1024, { headers: { 'x-refuse': '1' } }),
        ),
      )
      for (const r of results) {
        expect(r.error).toBeNull()
        expect(r.written).toBe(2 * 1024 * 1024)
        expect(r.response).toMatch(/^HTTP\/1\.1 503 /)
      }
    } finally {
      clearInterval(sample)
    }
    // The rest waited their turn with their answer sent, none read while four were draining.
    expect(peakDraining).toBeLessThanOrEqual(4)
    expect(peakWaiting).toBeGreaterThan(0)
    // The clients are done once they have the answer; the server drains the rest and closes every one.
    while (readPerConnection.length < 24) await new Promise((r) => setTimeout(r, 20))
    expect(lingering?.sizes).toEqual({ draining: 0, waiting: 0 })
  })

  it('keeps serving on connections that answered normally (keep-alive untouched)', async () => {
    const port = await serve()
    const res = await fetch(`http://127.0.0.1:${port}/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: Buffer.alloc(1000),
    })
    expect(res.status).toBe(200)
    expect(res.headers.get('connection')).not.toBe('close')
    expect(await res.json()).toEqual({ bytes: 1000 })
  })

  it('drops the connection once more than maxBytes of the body arrived', async () => {
    const port = await serve({ maxBytes: 256 * 1024, timeoutMs: 60_000 })
    // The client is cut off long before its 64 MiB are out; what matters is that it ends, not how it ends.
    const r = await stubbornPost(port, 64 * 1024 * 1024)
    expect(r.written).toBeLessThan(64 * 1024 * 1024)
  })

  it('drops a connection that stalls mid-body after timeoutMs', async () => {
    const port = await serve({ maxBytes: 64 * 1024 * 1024, timeoutMs: 300 })
    const r = await stubbornPost(port, 8 * 1024 * 1024, { stallAfter: 2 * 1024 * 1024 })
    // It got its answer, and the server did not wait for the 6 MiB that never came.
    expect(r.response).toMatch(/^HTTP\/1\.1 413 /)
    expect(r.written).toBe(2 * 1024 * 1024)
  })
})
