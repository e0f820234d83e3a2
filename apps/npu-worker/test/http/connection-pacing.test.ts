import http from 'node:http'
import net from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { ConnectionPacing } from '../../src/http/connection-pacing.js'

// The pacing against real loopback sockets: raw TCP clients that connect first and then all send their
// request at once, so every one of them is readable in the same turn of the server's event loop.

let server: http.Server | null = null
const open: net.Socket[] = []

afterEach(async () => {
  for (const socket of open.splice(0)) socket.destroy()
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()))
  server = null
})

/** A server whose answers record the turn of the event loop they were read in (a setImmediate counter). */
async function serve(atOnce: number, windowMs: number) {
  let turn = 0
  let ticking = true
  const tick = () => {
    turn++
    if (ticking) setImmediate(tick)
  }
  setImmediate(tick)
  const turns: number[] = []
  server = http.createServer((request, response) => {
    turns.push(turn)
    response.end(request.url)
  })
  const pacing = new ConnectionPacing(server, atOnce, windowMs)
  server.on('close', () => {
    ticking = false
  })
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as net.AddressInfo
  return { port, turns, pacing }
}

async function connect(port: number): Promise<net.Socket> {
  const socket = net.connect(port, '127.0.0.1')
  open.push(socket)
  await new Promise((resolve) => socket.once('connect', resolve))
  return socket
}

/** Sends GET /NAME on `socket`; resolves with the answer's body. */
function get(socket: net.Socket, name: string): Promise<string> {
  let text = ''
  socket.on('data', (chunk) => {
    text += chunk
  })
  socket.write(`GET /${name} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n`)
  return new Promise((resolve) => socket.once('end', () => resolve(text.split('\r\n\r\n')[1] ?? '')))
}

const settle = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe('ConnectionPacing', () => {
  it('reads at most N new connections per turn, oldest first, and answers every one', async () => {
    const { port, turns, pacing } = await serve(3, 1000)
    const sockets = []
    for (let i = 0; i < 12; i++) sockets.push(await connect(port))
    await settle(50)
    // Three took the places (connected, nothing sent yet); nine wait, paused.
    expect(pacing.stats).toMatchObject({ held: 9, waiting: 9 })
    const answers = await Promise.all(sockets.map((socket, i) => get(socket, `c${i}`)))
    expect(answers).toEqual(sockets.map((_, i) => `/c${i}`))
    // Never more than three requests read in one turn, and no turn skipped while some waited.
    const perTurn = new Map<number, number>()
    for (const t of turns) perTurn.set(t, (perTurn.get(t) ?? 0) + 1)
    expect(Math.max(...perTurn.values())).toBeLessThanOrEqual(3)
    expect(perTurn.size).toBeGreaterThanOrEqual(4)
    expect(pacing.stats.waiting).toBe(0)
  })

  it('does not hold the connections already serving: a keep-alive client is answered at once', async () => {
    const { port, pacing } = await serve(1, 1000)
    const known = await connect(port)
    await new Promise<void>((resolve) => {
      known.once('data', () => resolve())
      known.write('GET /first HTTP/1.1\r\nHost: test\r\n\r\n')
    })
    // A crowd of new connections that send nothing holds the one place and queues behind it.
    for (let i = 0; i < 5; i++) await connect(port)
    await settle(30)
    expect(pacing.stats.waiting).toBeGreaterThan(0)
    const started = performance.now()
    const answer = await get(known, 'again')
    expect(answer).toBe('/again')
    expect(performance.now() - started).toBeLessThan(500)
  })

  it('gives an idle connection’s place to the next after the window, and skips ones closed while held', async () => {
    const { port, pacing } = await serve(1, 40)
    // The first connection takes the place and never sends.
    await connect(port)
    const closedWhileHeld = await connect(port)
    const waiting = await connect(port)
    await settle(10)
    expect(pacing.stats.waiting).toBe(2)
    closedWhileHeld.destroy()
    // The idle one's window ends; the closed one is passed over; the third is read.
    expect(await get(waiting, 'third')).toBe('/third')
    expect(pacing.stats.waiting).toBe(0)
  })
})
