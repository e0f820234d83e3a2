import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { connect, type Socket } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { ConnectionDrain } from '../../src/http/connection-drain.js'

// Real sockets on loopback: what a drain must never do (reset a socket with a request on it) is only visible
// on the wire, as ECONNRESET instead of an answer or a FIN.

const servers: Server[] = []
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  }
})

/** A server whose handler the test controls; `held` keeps responses open until the test ends them. */
async function startServer(handler: (request: IncomingMessage, response: ServerResponse) => void) {
  const server = createServer(handler)
  servers.push(server)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  if (!address || typeof address === 'string') throw new Error('no port')
  return { server, port: address.port }
}

function answerOk(_request: IncomingMessage, response: ServerResponse): void {
  response.setHeader('content-type', 'text/plain')
  response.end('ok')
}

/** A raw client connection that records what arrives, and whether it ended (FIN) or failed (RST). */
interface RawClient {
  socket: Socket
  received(): string
  /** Resolves with 'end' (the server's FIN) or the error code (ECONNRESET...) once the socket closes. */
  closed: Promise<string>
  /** Resolves once `count` complete responses have arrived. */
  responses(count: number): Promise<string[]>
}

async function rawClient(port: number): Promise<RawClient> {
  const socket = connect(port, '127.0.0.1')
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject))
  let data = ''
  const waiters: Array<() => void> = []
  socket.setEncoding('utf8').on('data', (chunk: string) => {
    data += chunk
    for (const wake of waiters.splice(0)) wake()
  })
  const closed = new Promise<string>((resolve) => {
    let outcome = ''
    socket.on('end', () => {
      outcome ||= 'end'
    })
    socket.on('error', (error: NodeJS.ErrnoException) => {
      outcome = error.code ?? 'error'
    })
    socket.on('close', () => {
      for (const wake of waiters.splice(0)) wake()
      resolve(outcome || 'closed')
    })
  })
  const complete = (): string[] =>
    data
      .split('HTTP/1.1 ')
      .slice(1)
      .filter((r) => r.includes('\r\n\r\n'))
  return {
    socket,
    received: () => data,
    closed,
    responses: async (count) => {
      while (complete().length < count) {
        if (socket.destroyed) throw new Error(`socket closed after ${complete().length} responses: ${data}`)
        await new Promise<void>((resolve) => waiters.push(resolve))
      }
      return complete()
    },
  }
}

const GET = (path: string) => `GET ${path} HTTP/1.1\r\nHost: test\r\n\r\n`

describe('ConnectionDrain', () => {
  it('a request sent on an idle keep-alive connection just after the drain began is answered, then the socket ends with a FIN', async () => {
    const { server, port } = await startServer(answerOk)
    const drain = new ConnectionDrain(server, { idleLingerMs: 10_000 })
    const client = await rawClient(port)
    client.socket.write(GET('/first'))
    const [first] = await client.responses(1)
    expect(first).toMatch(/connection: keep-alive/i)

    // The moment server.close() would have destroyed this socket (it looks idle) and reset the request below.
    const closing = drain.close(30_000)
    client.socket.write(GET('/second'))
    const [, second] = await client.responses(2)
    expect(second).toMatch(/^200 OK/)
    expect(second).toMatch(/connection: close/i)
    expect(await client.closed).toBe('end')
    expect(await closing).toMatchObject({ open: 1, closedAfterResponse: 1, closedIdle: 0, left: 0 })
  })

  it('a request in progress when the drain begins finishes, says Connection: close, and only then the socket ends', async () => {
    let release: (() => void) | undefined
    const { server, port } = await startServer((request, response) => {
      release = () => answerOk(request, response)
    })
    const drain = new ConnectionDrain(server)
    const client = await rawClient(port)
    client.socket.write(GET('/slow'))
    while (!release) await new Promise((resolve) => setTimeout(resolve, 5))

    const closing = drain.close(30_000)
    release()
    const [answer] = await client.responses(1)
    expect(answer).toMatch(/^200 OK/)
    expect(answer).toMatch(/connection: close/i)
    expect(await client.closed).toBe('end')
    expect(await closing).toMatchObject({ closedAfterResponse: 1, left: 0 })
  })

  it('an idle connection is ended with a FIN (not reset) after the linger time', async () => {
    const { server, port } = await startServer(answerOk)
    const drain = new ConnectionDrain(server, { idleLingerMs: 50 })
    const client = await rawClient(port)
    client.socket.write(GET('/'))
    await client.responses(1)
    // The client closes its side when it reads the FIN, as HTTP clients do.
    client.socket.on('end', () => client.socket.end())
    const result = await drain.close(30_000)
    expect(await client.closed).toBe('end')
    expect(result).toMatchObject({ open: 1, closedIdle: 1, closedAfterResponse: 0, left: 0 })
  })

  it('a connection with part of a request read is not idle: it is answered once the rest arrives', async () => {
    const { server, port } = await startServer(answerOk)
    const drain = new ConnectionDrain(server, { idleLingerMs: 20 })
    let serverSide: Socket | undefined
    server.on('connection', (socket: Socket) => {
      serverSide = socket
    })
    const client = await rawClient(port)
    client.socket.write('GET /partial HTTP/1.1\r\nHo')
    // The server has read those bytes, and the parser has no request to announce yet.
    while (!serverSide || serverSide.bytesRead === 0) await new Promise((resolve) => setTimeout(resolve, 5))
    const closing = drain.close(30_000)
    // Several linger periods pass with the request unfinished: the socket must stay open.
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(client.socket.destroyed).toBe(false)
    client.socket.write('st: test\r\n\r\n')
    const [answer] = await client.responses(1)
    expect(answer).toMatch(/^200 OK/)
    expect(answer).toMatch(/connection: close/i)
    expect(await client.closed).toBe('end')
    expect(await closing).toMatchObject({ closedAfterResponse: 1, left: 0 })
  })

  it('the listener refuses new connections once the drain began', async () => {
    let release: (() => void) | undefined
    const { server, port } = await startServer((request, response) => {
      release = () => answerOk(request, response)
    })
    const drain = new ConnectionDrain(server)
    const busy = await rawClient(port)
    busy.socket.write(GET('/busy'))
    while (!release) await new Promise((resolve) => setTimeout(resolve, 5))
    const closing = drain.close(30_000)
    const refused = await new Promise<string>((resolve) => {
      const socket = connect(port, '127.0.0.1')
      socket.once('connect', () => resolve('connected'))
      socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'))
    })
    expect(refused).toBe('ECONNREFUSED')
    release()
    await busy.responses(1)
    expect(await closing).toMatchObject({ left: 0 })
  })

  it('a response still open at the limit is destroyed and counted', async () => {
    const { server, port } = await startServer(() => {
      // Never answers.
    })
    const drain = new ConnectionDrain(server)
    const client = await rawClient(port)
    client.socket.write(GET('/stuck'))
    while (drain.open === 0) await new Promise((resolve) => setTimeout(resolve, 5))
    const result = await drain.close(100)
    expect(result).toMatchObject({ open: 1, left: 1 })
    await client.closed
  })

  it('without requests, a drain of a server with no connections resolves at once', async () => {
    const { server } = await startServer(answerOk)
    const drain = new ConnectionDrain(server)
    expect(await drain.close(30_000)).toMatchObject({ open: 0, left: 0 })
    expect(server.listening).toBe(false)
  })
})
