import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { isPoolError, PoolErrorCode, StreamInterruptedError } from '../../src/errors.js'
import { NpuWorkerPool } from '../../src/pool.js'
import {
  type CapturedLog,
  captureLogger,
  type MlpFleet,
  mlpRequest,
  sleep,
  startMlpFleet,
  waitUntil,
  workerEntry,
} from '../helpers/fleet.js'
import { closedPort, type Peer, type PeerMode, startPeer } from '../helpers/peers.js'

// Failure injection with real processes: workers frozen with SIGSTOP (timeouts) and thawed with SIGCONT, a
// port that accepts TCP and never answers, peers that answer /health with other JSON or a placeholder, and
// peers that answer inference with 5xx, 503 + Retry-After, a stale 404 or a body that is not the protocol.

let fleet: MlpFleet
const peers = new Map<PeerMode, Peer>()
const pools: NpuWorkerPool[] = []
let logs = captureLogger()

beforeAll(async () => {
  const modes: PeerMode[] = [
    'silent',
    'other-json',
    'placeholder',
    'queue-full',
    'bad-body',
    'stale-capability',
    'server-error',
    'broken-stream',
  ]
  const [started, ...list] = await Promise.all([startMlpFleet(3), ...modes.map((m) => startPeer(m))])
  fleet = started as MlpFleet
  for (const [i, m] of modes.entries()) peers.set(m, list[i] as Peer)
})
afterEach(async () => {
  for (const w of fleet.workers) w.process.kill('SIGCONT')
  await Promise.all(pools.splice(0).map((p) => p.close()))
})
afterAll(async () => {
  await Promise.all([fleet?.stop(), ...[...peers.values()].map((p) => p.stop())])
})

async function pool(workers: unknown[], loadBalancing: Record<string, unknown> = {}) {
  logs = captureLogger()
  const p = new NpuWorkerPool({
    config: {
      workers,
      // No background rounds: each test controls when health is read.
      load_balancing: {
        health_check_interval: 0,
        health_stale_seconds: 600,
        health_check_timeout_seconds: 0.5,
        ...loadBalancing,
      },
    },
    logger: logs,
    random: () => 0,
  })
  pools.push(p)
  await p.initialize()
  return p
}
const url = (i: number) => fleet.workers[i]!.url
const peer = (mode: PeerMode) => peers.get(mode)!.url
const worker = (p: NpuWorkerPool, id: string) => p.getWorkers().find((w) => w.id === id)!
const messages = (lines: CapturedLog[]) => lines.map((l) => `${l.level}: ${l.msg}`)

describe('health decides who gets traffic', () => {
  it('never routes to a silent port, another service, a placeholder or a closed port', async () => {
    const p = await pool([
      workerEntry('silent', peer('silent'), { priority: 10 }),
      workerEntry('other', peer('other-json'), { priority: 10 }),
      workerEntry('placeholder', peer('placeholder'), { priority: 10 }),
      workerEntry('closed', `http://127.0.0.1:${await closedPort()}`, { priority: 10 }),
      workerEntry('real', url(0), { priority: 1 }),
    ])
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => p.infer('mlp', mlpRequest(1, i))))
    expect(results.map((r) => r.success && r.workerId)).toEqual(Array(8).fill('real'))
    expect(
      p
        .getWorkers()
        .map((w) => [w.id, w.healthy, w.lastHealthError, w.healthFailures, w.totalRequests, w.failures]),
    ).toEqual([
      ['silent', false, 'no answer within 500 ms', 1, 0, 0],
      ['other', false, 'HTTP 200: not an npu-worker (service "billing-api")', 1, 0, 0],
      ['placeholder', false, 'HTTP 200 with a body that is not JSON', 1, 0, 0],
      ['closed', false, 'connection refused (ECONNREFUSED)', 1, 0, 0],
      ['real', true, null, 0, 8, 0],
    ])
    expect(p.getStats()).toMatchObject({ totalWorkers: 5, healthyWorkers: 1 })
  })

  it('fails fast with fallback when no worker is healthy', async () => {
    const p = await pool([workerEntry('silent', peer('silent')), workerEntry('other', peer('other-json'))])
    expect(logs.find('warn', 'no healthy worker')).toHaveLength(1)
    const r = await p.infer('mlp', mlpRequest())
    expect(r).toEqual({
      success: false,
      error: 'no worker available for model "mlp": none is enabled, healthy and with a closed circuit',
      code: 'POOL_ERR_NO_WORKERS',
      fallback: true,
      attempts: 0,
    })
    expect(logs.find('error', 'task failed')).toHaveLength(1)
  })

  it('never throws, even for a bug of its own: the failure envelope with POOL_ERR_INTERNAL, logged', async () => {
    const p = await pool([workerEntry('real', url(0))])
    // An options object whose getter throws stands in for a bug inside a task's run.
    const options = {
      get timeoutMs(): number {
        throw new Error('boom')
      },
    }
    expect(await p.infer('mlp', mlpRequest(), options)).toEqual({
      success: false,
      error: 'internal error: boom',
      code: 'POOL_ERR_INTERNAL',
      fallback: true,
      attempts: 0,
    })
    expect(await p.executeTask('ocr', {}, options)).toMatchObject({
      success: false,
      code: 'POOL_ERR_INTERNAL',
    })
    expect(logs.find('error', 'pool bug: task crashed')).toHaveLength(2)
    expect((await p.infer('mlp', mlpRequest())).success).toBe(true)
  })
})

describe('timeouts (SIGSTOP / SIGCONT)', () => {
  it('retries a frozen worker on another, opens its circuit, and recovers through one half-open probe', async () => {
    const p = await pool(
      [workerEntry('frozen', url(0), { priority: 10 }), workerEntry('backup', url(1), { priority: 5 })],
      { timeout_seconds: 0.4, failure_threshold: 2, retry_cooldown_seconds: 1 },
    )
    fleet.workers[0]!.process.kill('SIGSTOP')
    const first = await p.infer('mlp', mlpRequest())
    expect(first).toMatchObject({ success: true, workerId: 'backup', attempts: 2 })
    expect(worker(p, 'frozen').circuitState).toBe('closed')
    expect(messages(logs.find('info', 'task attempt failed'))).toEqual([
      'info: task attempt failed; retrying on another worker',
    ])
    expect(logs.find('info', 'task attempt failed')[0]?.fields).toMatchObject({
      worker: 'frozen',
      reason: 'timeout',
    })

    const second = await p.infer('mlp', mlpRequest())
    expect(second).toMatchObject({ success: true, workerId: 'backup', attempts: 2 })
    expect(worker(p, 'frozen')).toMatchObject({
      circuitState: 'open',
      failures: 2,
      totalRequests: 2,
      circuitCooldownMs: 1000,
    })
    expect(logs.find('error', 'circuit opened')).toHaveLength(1)
    expect(logs.find('error', 'circuit opened')[0]?.fields).toMatchObject({ worker: 'frozen', failures: 2 })

    // Open circuit: skipped without an attempt.
    const third = await p.infer('mlp', mlpRequest())
    expect(third).toMatchObject({ success: true, workerId: 'backup', attempts: 1 })
    expect(worker(p, 'frozen').totalRequests).toBe(2)

    fleet.workers[0]!.process.kill('SIGCONT')
    // Nobody reads the pool while the cooldown runs: the circuit must move on time alone.
    await sleep(1300)
    expect(logs.find('info', 'circuit half-open')).toHaveLength(1)
    expect(worker(p, 'frozen').circuitState).toBe('half_open')
    const probe = await p.infer('mlp', mlpRequest())
    expect(probe).toMatchObject({ success: true, workerId: 'frozen', attempts: 1 })
    expect(worker(p, 'frozen').circuitState).toBe('closed')
    expect(logs.find('info', 'circuit closed')).toHaveLength(1)
  })

  it('gives fallback: true with POOL_ERR_RETRIES_EXHAUSTED after max_attempts, each on a different worker', async () => {
    const p = await pool([workerEntry('a', url(0)), workerEntry('b', url(1)), workerEntry('c', url(2))], {
      timeout_seconds: 0.3,
    })
    for (const w of fleet.workers) w.process.kill('SIGSTOP')
    const r = await p.infer('mlp', mlpRequest())
    expect(r).toMatchObject({
      success: false,
      code: 'POOL_ERR_RETRIES_EXHAUSTED',
      fallback: true,
      attempts: 3,
      details: { lastReason: 'timeout' },
    })
    expect(p.getWorkers().map((w) => w.totalRequests)).toEqual([1, 1, 1])
    expect(logs.find('info', 'task attempt failed')).toHaveLength(2)
    expect(logs.find('error', 'task failed')).toHaveLength(1)
    expect(p.getStats()).toMatchObject({
      successRate: 0,
      tasks: { started: 1, succeeded: 0, failed: 1, inProgress: 0 },
      attempts: { total: 3, failed: 3, retries: 2 },
      failuresByCode: { POOL_ERR_RETRIES_EXHAUSTED: 1 },
    })
  })

  it('ends at the caller deadline without holding it against the worker', async () => {
    const p = await pool([workerEntry('a', url(0))])
    fleet.workers[0]!.process.kill('SIGSTOP')
    const r = await p.infer('mlp', mlpRequest(), { timeoutMs: 300 })
    expect(r).toMatchObject({ success: false, code: 'POOL_ERR_DEADLINE_EXCEEDED', attempts: 1 })
    expect(worker(p, 'a')).toMatchObject({ failures: 0, circuitState: 'closed', activeTasks: 0 })
  })

  it('aborts on the caller signal, in flight and while waiting', async () => {
    const p = await pool([workerEntry('a', url(0), { max_concurrent_tasks: 1 })])
    fleet.workers[0]!.process.kill('SIGSTOP')
    const controller = new AbortController()
    const inFlight = p.infer('mlp', mlpRequest(), { signal: controller.signal })
    const waiting = p.infer('mlp', mlpRequest(), { signal: controller.signal })
    expect(p.getStats()).toMatchObject({ activeTasks: 1, queuedTasks: 1 })
    setTimeout(() => controller.abort(), 100)
    expect(await inFlight).toMatchObject({ success: false, code: 'POOL_ERR_ABORTED', attempts: 1 })
    expect(await waiting).toMatchObject({ success: false, code: 'POOL_ERR_ABORTED', attempts: 0 })
    expect(worker(p, 'a')).toMatchObject({ failures: 0, activeTasks: 0 })
    expect(await p.infer('mlp', mlpRequest(), { signal: AbortSignal.abort() })).toMatchObject({
      code: 'POOL_ERR_ABORTED',
    })
  })
})

describe('what is retried, and what is held against a worker', () => {
  it('opens the circuit after 5 consecutive failures (HTTP 500) and then skips the worker', async () => {
    const p = await pool([
      workerEntry('broken', peer('server-error'), { priority: 10 }),
      workerEntry('ok', url(0), { priority: 1 }),
    ])
    const before = peers
      .get('server-error')!
      .requests()
      .filter((r) => r.startsWith('POST')).length
    for (let i = 0; i < 5; i++) {
      expect(await p.infer('mlp', mlpRequest())).toMatchObject({ success: true, workerId: 'ok', attempts: 2 })
      expect(worker(p, 'broken').circuitState).toBe(i < 4 ? 'closed' : 'open')
    }
    for (let i = 0; i < 5; i++) {
      expect(await p.infer('mlp', mlpRequest())).toMatchObject({ success: true, workerId: 'ok', attempts: 1 })
    }
    expect(worker(p, 'broken')).toMatchObject({
      failures: 5,
      totalRequests: 5,
      circuitState: 'open',
      healthy: true,
    })
    const after = peers
      .get('server-error')!
      .requests()
      .filter((r) => r.startsWith('POST')).length
    expect(after - before).toBe(5)
    expect(logs.find('error', 'circuit opened')).toHaveLength(1)
  })

  it('honours 503 + Retry-After: retried elsewhere, the worker is left alone for a while, not counted as a failure', async () => {
    const p = await pool([
      workerEntry('busy', peer('queue-full'), { priority: 10 }),
      workerEntry('ok', url(0), { priority: 1 }),
    ])
    expect(await p.infer('mlp', mlpRequest())).toMatchObject({ success: true, workerId: 'ok', attempts: 2 })
    expect(await p.infer('mlp', mlpRequest())).toMatchObject({ success: true, workerId: 'ok', attempts: 1 })
    expect(worker(p, 'busy')).toMatchObject({
      totalRequests: 1,
      deferred: 1,
      failures: 0,
      circuitState: 'closed',
    })
  })

  it('retries a 2xx body that is not the protocol, and holds it against the worker', async () => {
    const p = await pool([
      workerEntry('liar', peer('bad-body'), { priority: 10 }),
      workerEntry('ok', url(0), { priority: 1 }),
    ])
    expect(await p.infer('mlp', mlpRequest())).toMatchObject({ success: true, workerId: 'ok', attempts: 2 })
    expect(worker(p, 'liar')).toMatchObject({ failures: 1, successes: 0 })
  })

  it('ends a stream at a broken chunk with POOL_ERR_STREAM_INTERRUPTED naming the field, held against the worker', async () => {
    const p = await pool([workerEntry('broken', peer('broken-stream'))])
    const seen: string[] = []
    let error: unknown
    try {
      for await (const chunk of p.stream('scripted-chat', [{ role: 'user', content: 'hello' }])) {
        seen.push(chunk.choices[0]?.delta.content ?? '')
      }
    } catch (e) {
      error = e
    }
    // The good chunk came through; the broken one, read from the same socket write, did not.
    expect(seen).toEqual(['Hi'])
    expect(error).toBeInstanceOf(StreamInterruptedError)
    expect(error).toMatchObject({
      code: PoolErrorCode.STREAM_INTERRUPTED,
      partialText: 'Hi',
      workerId: 'broken',
    })
    expect((error as Error).message).toMatch(/not a chat chunk: choices\[0\]\.index: /)
    expect(worker(p, 'broken')).toMatchObject({ failures: 1, activeTasks: 0 })
  })

  it('a broken first chunk fails the attempt naming the field (nothing reaches the caller)', async () => {
    const p = await pool([workerEntry('broken', peer('broken-stream'))], { max_attempts: 1 })
    let chunks = 0
    const error = await (async () => {
      for await (const _ of p.stream('scripted-chat', [{ role: 'user', content: 'broken first' }])) chunks++
    })().catch((e: unknown) => e)
    expect(chunks).toBe(0)
    expect(isPoolError(error)).toBe(true)
    expect((error as Error).message).toMatch(/choices\[0\]\.index: /)
    expect(worker(p, 'broken')).toMatchObject({ failures: 1, activeTasks: 0 })
  })

  it('treats a 404 for a model the worker listed as stale capabilities: retried elsewhere and health re-read', async () => {
    const p = await pool([
      workerEntry('stale', peer('stale-capability'), { priority: 10 }),
      workerEntry('ok', url(0), { priority: 1 }),
    ])
    const checksBefore = peers
      .get('stale-capability')!
      .requests()
      .filter((r) => r === 'GET /health').length
    expect(await p.infer('mlp', mlpRequest())).toMatchObject({ success: true, workerId: 'ok', attempts: 2 })
    expect(worker(p, 'stale')).toMatchObject({ failures: 0, deferred: 1 })
    await waitUntil(
      () =>
        peers
          .get('stale-capability')!
          .requests()
          .filter((r) => r === 'GET /health').length > checksBefore,
      'the on-demand health re-check',
    )
  })

  it('returns bad input (4xx) at once: one attempt, not retried, not held against the worker', async () => {
    const p = await pool([workerEntry('a', url(0)), workerEntry('b', url(1))])
    const bad = { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3], data: [1, 2, 3] }] }
    const r = await p.infer('mlp', bad)
    expect(r).toMatchObject({
      success: false,
      code: 'POOL_ERR_WORKER_REJECTED',
      fallback: true,
      attempts: 1,
      details: { worker: 'a', status: 400, workerCode: 'NPU_ERR_BAD_INFER_REQUEST' },
    })
    if (!r.success) expect(r.error).toContain('inputs[0].shape[1]')
    expect(p.getWorkers().map((w) => [w.id, w.totalRequests, w.rejected, w.failures])).toEqual([
      ['a', 1, 1, 0],
      ['b', 0, 0, 0],
    ])
    expect(logs.find('warn', 'refused by the worker')).toHaveLength(1)
    expect(logs.find('error', '')).toHaveLength(0)
  })

  it('stops retrying when the retry budget is spent', async () => {
    const p = await pool(
      [
        workerEntry('broken', peer('server-error'), { priority: 10 }),
        workerEntry('ok', url(0), { priority: 1 }),
      ],
      {
        retry_budget_min_retries: 1,
        retry_budget_ratio: 0,
      },
    )
    expect(await p.infer('mlp', mlpRequest())).toMatchObject({ success: true, workerId: 'ok', attempts: 2 })
    expect(await p.infer('mlp', mlpRequest())).toMatchObject({
      success: false,
      code: 'POOL_ERR_RETRY_BUDGET_EXHAUSTED',
      attempts: 1,
      details: {
        lastWorker: 'broken',
        lastReason: 'server_error',
        lastStatus: 500,
        lastWorkerCode: 'NPU_ERR_INFERENCE_FAILED',
      },
    })
    expect(p.getStats().attempts).toMatchObject({ retries: 1, retriesDeniedByBudget: 1 })
  })
})
