import { get } from 'node:http'
import { ErrorBodySchema, HealthResponseSchema } from '@npu-fleet/protocol'
import { Pool } from 'undici'
import { afterEach, describe, expect, it } from 'vitest'
import { makeMlpModelRepository, startWorker, type TempModelRepository } from '../helpers/worker-process.js'
import { addSlowModel, SLOW_MODEL_WIDTH } from './fixtures/slow-model.js'

// The measurement: 16 keep-alive connections under load through a SIGTERM. A plain undici Pool, which
// retries nothing, sees every reset socket as a failed request; the drain must give it none.
const CONNECTIONS = 16

const repositories: TempModelRepository[] = []
afterEach(() => {
  for (const repository of repositories.splice(0)) repository.cleanup()
})

const mlpBody = JSON.stringify({
  inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 384], data: new Array(384).fill(0.25) }],
})

/** One answer or failure the client saw, in the order the loops recorded them. */
type Outcome =
  | {
      kind: 'answer'
      status: number
      code: string | undefined
      connectionClose: boolean
      afterSignal: boolean
    }
  | { kind: 'error'; code: string; message: string; afterSignal: boolean }

/** Socket-level failures of a request that was sent: what a client without retries reports as a failure. */
const RESET_CODES = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED'])

async function until(
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

describe('drain: clean for a client without retries', () => {
  it('16 keep-alive connections under load through a SIGTERM: no reset, nothing but 200 and 503 draining', async () => {
    const repository = makeMlpModelRepository()
    addSlowModel(repository.dir)
    repositories.push(repository)
    const worker = await startWorker({
      modelsDir: repository.dir,
      env: { NPU_WORKER_SHUTDOWN_GRACE_MS: '60000' },
      waitFor: 'ready',
    })
    let exited = false
    const exit = worker.waitForExit().then((code) => {
      exited = true
      return code
    })

    const pool = new Pool(worker.url, { connections: CONNECTIONS, pipelining: 1 })
    const outcomes: Outcome[] = []
    let signalled = false
    const okBeforeSignal = new Array<number>(CONNECTIONS).fill(0)

    async function loop(index: number): Promise<void> {
      // Until the process is gone: after that only refusals can come, and they prove nothing more.
      while (!exited) {
        const afterSignal = signalled
        try {
          const response = await pool.request({
            method: 'POST',
            path: '/v2/models/mlp/infer',
            headers: { 'content-type': 'application/json' },
            body: mlpBody,
          })
          const text = await response.body.text()
          const code = response.statusCode === 200 ? undefined : ErrorBodySchema.parse(JSON.parse(text)).code
          outcomes.push({
            kind: 'answer',
            status: response.statusCode,
            code,
            connectionClose: String(response.headers.connection ?? '').toLowerCase() === 'close',
            afterSignal,
          })
          if (response.statusCode === 200 && !afterSignal)
            okBeforeSignal[index] = (okBeforeSignal[index] ?? 0) + 1
        } catch (error) {
          const { code = 'UNKNOWN', message } = error as NodeJS.ErrnoException
          outcomes.push({ kind: 'error', code, message, afterSignal })
          // A refused connection means the listener is closed: wait a moment instead of spinning on it.
          if (code === 'ECONNREFUSED') await new Promise((resolve) => setTimeout(resolve, 5))
        }
      }
    }
    const loops = Array.from({ length: CONNECTIONS }, (_, index) => loop(index))

    // Steady state first: every connection open and busy, so the signal lands on live keep-alive sockets.
    await until('every connection to have served requests', () => okBeforeSignal.every((n) => n >= 20))
    // In-flight work the drain must wait for, on a connection of its own (fetch's global agent).
    const slow = fetch(`${worker.url}/v2/models/slow/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        inputs: [
          { name: 'n', datatype: 'INT64', shape: [1], data: [150_000] },
          {
            name: 'x',
            datatype: 'FP32',
            shape: [1, SLOW_MODEL_WIDTH],
            data: new Array(SLOW_MODEL_WIDTH).fill(1),
          },
        ],
      }),
    })
    await until('the slow inference to be running', async () => {
      const health = HealthResponseSchema.parse(await (await fetch(`${worker.url}/health`)).json())
      return health.load.active >= 1
    })
    signalled = true
    worker.process.kill('SIGTERM')

    const slowAnswer = await slow
    expect(slowAnswer.status).toBe(200)
    expect(await exit).toBe(0)
    await Promise.all(loops)
    await pool.close()

    const answers = outcomes.filter((o) => o.kind === 'answer')
    const errors = outcomes.filter((o) => o.kind === 'error')
    const resets = errors.filter((o) => RESET_CODES.has(o.code))
    const otherErrors = errors.filter((o) => !RESET_CODES.has(o.code) && o.code !== 'ECONNREFUSED')
    const drained = answers.filter((o) => o.status === 503)
    const summary = {
      answers: answers.length,
      ok: answers.filter((o) => o.status === 200).length,
      draining503: drained.length,
      with_connection_close: drained.filter((o) => o.connectionClose).length,
      refused: errors.filter((o) => o.code === 'ECONNREFUSED').length,
      resets: resets.length,
      other: otherErrors.length,
    }
    console.log(`drain under load: ${JSON.stringify(summary)}`)

    expect(resets, `resets: ${JSON.stringify(resets.slice(0, 5))}`).toEqual([])
    expect(otherErrors).toEqual([])
    // Every answer is a result or the drain's own 503, in the worker's error shape.
    expect(answers.filter((o) => o.status !== 200 && o.status !== 503)).toEqual([])
    expect(drained.length).toBeGreaterThan(0)
    expect(new Set(drained.map((o) => o.code))).toEqual(new Set(['NPU_ERR_NOT_SERVING']))
    // Requests sent before the signal were all answered (a result, or 503 when the signal overtook them).
    expect(outcomes.filter((o) => !o.afterSignal && o.kind === 'error')).toEqual([])
    // The connections were told to close (each one that carried a request once the listener was closed).
    expect(drained.some((o) => o.connectionClose)).toBe(true)
    // A refusal only comes once the listener is closed, which the worker logs with what was open then.
    const lines = worker.logLines()
    const listenerClosed = lines.find(
      (line) => line.msg === 'listener closed; closing each connection once idle',
    )
    expect(listenerClosed).toBeDefined()
    const connectionsClosed = lines.find((line) => line.msg === 'connections closed')
    expect(connectionsClosed).toMatchObject({ left: 0 })
  })

  it('drain_delay_ms keeps the listener open answering draining, on new connections too, then exits 0', async () => {
    const repository = makeMlpModelRepository()
    repositories.push(repository)
    const delayMs = 3000
    const worker = await startWorker({
      modelsDir: repository.dir,
      env: { NPU_WORKER_DRAIN_DELAY_MS: String(delayMs) },
      waitFor: 'ready',
    })
    const exit = worker.waitForExit()
    worker.process.kill('SIGTERM')

    // Each probe on a connection of its own (agent: false), as a prober that keeps none open would send it.
    const probe = () =>
      new Promise<{ status: number; body: string } | { error: string }>((resolve) => {
        get(`${worker.url}/health`, { agent: false }, (response) => {
          let body = ''
          response.setEncoding('utf8').on('data', (chunk: string) => {
            body += chunk
          })
          response.on('end', () => resolve({ status: response.statusCode ?? 0, body }))
        }).on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }))
      })
    const seen: Array<{ status: number; body: string } | { error: string }> = []
    for (;;) {
      const result = await probe()
      seen.push(result)
      if ('error' in result) break
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    const answers = seen.filter((r): r is { status: number; body: string } => 'status' in r)
    expect(answers.length).toBeGreaterThan(0)
    for (const answer of answers) {
      expect(answer.status).toBe(503)
      expect(HealthResponseSchema.parse(JSON.parse(answer.body)).status).toBe('draining')
    }
    // After the delay the listener closed: a refusal, never a reset.
    expect(seen.at(-1)).toEqual({ error: 'ECONNREFUSED' })
    expect(await exit).toBe(0)
    const lines = worker.logLines()
    const draining = lines.find((line) => String(line.msg).startsWith('draining'))
    const closed = lines.find((line) => line.msg === 'listener closed; closing each connection once idle')
    // The listener stayed open for the whole delay (timers never fire early by more than a millisecond).
    expect(Number(closed?.time) - Number(draining?.time)).toBeGreaterThanOrEqual(delayMs - 5)
  })
})
