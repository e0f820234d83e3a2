import { writeFileSync } from 'node:fs'
import net from 'node:net'
import { join } from 'node:path'
import { Pool } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  makeMlpModelRepository,
  startWorker,
  type TempModelRepository,
  type WorkerProcess,
} from '../helpers/worker-process.js'
import { addSlowModel, SLOW_MODEL_WIDTH } from '../server/fixtures/slow-model.js'

// Admission before the body is read, against a real worker process: when a model's queue is full, a request
// is refused with 503 + Retry-After as soon as its headers are in, before the client has sent one byte of its
// body, and its connection closes after the answer; requests admitted meanwhile hold their places while their
// bodies arrive, so a burst cannot all be let in before any of them is queued.

let repo: TempModelRepository
let worker: WorkerProcess

beforeAll(async () => {
  repo = makeMlpModelRepository()
  addSlowModel(repo.dir)
  // One running and one waiting: two places.
  writeFileSync(
    join(repo.dir, 'slow', 'model.yaml'),
    'devices: [CPU]\ninstances: 1\nthreads: 1\nqueue: { max_queued: 1 }\n',
  )
  worker = await startWorker({ modelsDir: repo.dir, waitFor: 'ready' })
})

afterAll(async () => {
  await worker?.stop()
  repo?.cleanup()
})

const slowBody = (iterations: number) =>
  Buffer.from(
    JSON.stringify({
      inputs: [
        { name: 'n', datatype: 'INT64', shape: [1], data: [iterations] },
        {
          name: 'x',
          datatype: 'FP32',
          shape: [1, SLOW_MODEL_WIDTH],
          data: new Array(SLOW_MODEL_WIDTH).fill(1),
        },
      ],
    }),
  )

interface HeldRequest {
  /** Resolves with the status line and headers once the server answered (maybe before any body byte). */
  answer: Promise<string>
  /** Sends the body (what a client does once it is accepted) and resolves with the whole response. */
  sendBody(): Promise<string>
  close(): void
}

/** A POST whose headers go out at once and whose body is held back until `sendBody()`. */
function heldPost(body: Buffer): HeldRequest {
  const socket = net.connect(worker.port, '127.0.0.1')
  let text = ''
  let onData: () => void = () => {}
  socket.on('data', (chunk: Buffer) => {
    text += chunk.toString('latin1')
    onData()
  })
  socket.on('error', () => {})
  socket.write(
    `POST /v2/models/slow/infer HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n`,
  )
  const headersIn = () => text.includes('\r\n\r\n')
  const answer = new Promise<string>((resolve) => {
    const check = () => {
      if (headersIn()) resolve(text)
    }
    onData = check
  })
  return {
    answer,
    sendBody: async () => {
      socket.write(body)
      await new Promise<void>((resolve) => {
        const done = () => {
          const [head, rest = ''] = text.split('\r\n\r\n')
          const length = Number(/content-length: (\d+)/i.exec(head ?? '')?.[1] ?? Number.NaN)
          if (rest.length >= length) resolve()
        }
        onData = done
        done()
      })
      return text
    },
    close: () => socket.destroy(),
  }
}

const status = (response: string) => Number(response.slice(9, 12))

/** Waits until `count` of `requests` were answered (generous deadline); returns the indexes answered. */
async function answered(requests: HeldRequest[], count: number): Promise<number[]> {
  const done = new Set<number>()
  requests.forEach((r, i) => void r.answer.then(() => done.add(i)))
  const deadline = Date.now() + 30_000
  while (done.size < count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
  return [...done].sort()
}

describe('admission before the body is read', () => {
  it('refuses with 503 + Retry-After before a byte of the body is sent, and closes that connection', async () => {
    // Three requests for two places, headers only: whichever comes third is refused before any body is sent.
    const requests = [heldPost(slowBody(200_000)), heldPost(slowBody(1)), heldPost(slowBody(1))]
    const [refusedIndex, ...more] = await answered(requests, 1)
    expect(more).toEqual([])
    const answer = await (requests[refusedIndex as number] as HeldRequest).answer
    expect(status(answer)).toBe(503)
    expect(answer.toLowerCase()).toContain('connection: close')
    expect(Number(/retry-after: (\d+)/i.exec(answer)?.[1])).toBeGreaterThanOrEqual(1)
    expect(answer).toContain('NPU_ERR_QUEUE_FULL')
    // The admitted ones kept their places while their bodies were held back, and are served.
    const admitted = requests.filter((_, i) => i !== refusedIndex)
    const responses = await Promise.all(admitted.map((r) => r.sendBody()))
    expect(responses.map(status)).toEqual([200, 200])
    for (const r of requests) r.close()
  })

  it('lets a burst in only as far as the places go, and frees places of requests that never send a body', async () => {
    const burst = Array.from({ length: 6 }, () => heldPost(slowBody(1)))
    // Four are refused at once; the two admitted cannot be answered before they send a body.
    const refused = await answered(burst, 4)
    expect(refused).toHaveLength(4)
    const statuses = await Promise.all(refused.map((i) => (burst[i] as HeldRequest).answer.then(status)))
    expect(statuses).toEqual([503, 503, 503, 503])
    // The two admitted clients go away without a body: their places come back.
    for (const r of burst) r.close()
    const next = heldPost(slowBody(1))
    expect(status(await next.sendBody())).toBe(200)
    next.close()
  })

  it('refuses a burst of large bodies with 503 + Retry-After only, to a client that reads while it sends and to one that sends first', async () => {
    // Both places held by admitted requests whose bodies are held back: everything else is refused.
    const holders = [heldPost(slowBody(1)), heldPost(slowBody(1))]
    const probe = heldPost(slowBody(1))
    expect(status(await probe.answer)).toBe(503)
    probe.close()
    const body = Buffer.alloc(2 * 1024 * 1024, 0x20)
    const many = new Pool(`http://127.0.0.1:${worker.port}`, { connections: 24 })
    try {
      const answers = await Promise.all(
        Array.from({ length: 24 }, async () => {
          const res = await many.request({
            method: 'POST',
            path: '/v2/models/slow/infer',
            headers: { 'content-type': 'application/json' },
            body,
          })
          await res.body.dump()
          return `${res.statusCode} retry-after=${res.headers['retry-after'] !== undefined}`
        }),
      )
      expect(new Set(answers)).toEqual(new Set(['503 retry-after=true']))
    } finally {
      await many.close()
    }
    // A client that writes its whole 8 MiB body before it reads anything still reads its 503.
    const stubborn = await new Promise<string>((resolve) => {
      const socket = net.connect(worker.port, '127.0.0.1')
      let text = ''
      socket.on('error', () => {})
      socket.on('connect', () => {
        socket.write(
          `POST /v2/models/slow/infer HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: ${8 * 1024 * 1024}\r\n\r\n`,
        )
        socket.end(Buffer.alloc(8 * 1024 * 1024, 0x20), () => {
          socket.on('data', (chunk: Buffer) => {
            text += chunk.toString('latin1')
          })
        })
      })
      socket.on('close', () => resolve(text))
    })
    expect(status(stubborn)).toBe(503)
    expect(stubborn.toLowerCase()).toContain('retry-after:')
    for (const r of holders) r.close()
  })
})
