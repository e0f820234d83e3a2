import fc from 'fast-check'
import { Pool } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  makeMlpModelRepository,
  startWorker,
  type TempModelRepository,
  type WorkerProcess,
} from '../helpers/worker-process.js'

// Thousands of random and mutated requests to every route of a real worker process: the only acceptable
// answers are 2xx (for valid bodies) and 4xx with a stable code. Never a 5xx, a crash or a hang.

let repo: TempModelRepository
let worker: WorkerProcess
let client: Pool

beforeAll(async () => {
  repo = makeMlpModelRepository()
  worker = await startWorker({ modelsDir: repo.dir, waitFor: 'ready' })
  client = new Pool(worker.url, {
    connections: 4,
    keepAliveTimeout: 1000,
    headersTimeout: 10_000,
    bodyTimeout: 10_000,
  })
})

afterAll(async () => {
  await client?.close()
  await worker?.stop()
  repo?.cleanup()
})

const ROUTES = [
  ['POST', '/v2/models/mlp/infer'],
  ['POST', '/v2/models/mlp/versions/1/infer'],
  ['POST', '/v2/models/nope/infer'],
  ['GET', '/v2/models/mlp'],
  ['GET', '/v2/models/mlp/ready'],
  ['GET', '/v2'],
  ['GET', '/v2/health/ready'],
  ['GET', '/health'],
  ['GET', '/metrics'],
  ['POST', '/health'],
] as const

const validInput = () => ({
  name: 'input',
  datatype: 'FP32',
  shape: [1, 384],
  data: new Array(384).fill(0.25),
})

/** JSON-ish values including the awkward ones: huge numbers, deep nesting, odd strings. */
const weirdJson = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.constantFrom(
      null,
      true,
      false,
      0,
      -0,
      1e308,
      -1e308,
      2 ** 53 + 1,
      1.5,
      '',
      '..',
      '../../etc/passwd',
      'FP32',
      'BYTES',
    ),
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.string(),
    fc.array(tie('value'), { maxLength: 6 }),
    fc.dictionary(
      fc.constantFrom(
        'name',
        'shape',
        'datatype',
        'data',
        'inputs',
        'outputs',
        'id',
        'parameters',
        'timeout',
        'x',
      ),
      tie('value'),
      { maxKeys: 5 },
    ),
  ),
})).value

/** Mutations of a valid infer request: each changes one thing the codec must catch. */
const mutatedRequest = fc.oneof(
  fc
    .record({ field: fc.constantFrom('name', 'shape', 'datatype', 'data', 'parameters'), value: weirdJson })
    .map(({ field, value }) => ({
      inputs: [{ ...validInput(), [field]: value }],
    })),
  fc.record({ shape: fc.array(fc.integer({ min: -2, max: 500 }), { maxLength: 4 }) }).map(({ shape }) => ({
    inputs: [{ ...validInput(), shape }],
  })),
  fc
    .integer({ min: 0, max: 400 })
    .map((n) => ({ inputs: [{ ...validInput(), data: new Array(n).fill(1) }] })),
  fc.record({ outputs: weirdJson }).map(({ outputs }) => ({ inputs: [validInput()], outputs })),
  fc
    .record({ timeout: weirdJson })
    .map(({ timeout }) => ({ inputs: [validInput()], parameters: { timeout } })),
  fc.constant({ inputs: [validInput(), validInput()] }),
  weirdJson,
)

const body = fc.oneof(
  mutatedRequest.map((v) => ({ text: JSON.stringify(v), type: 'application/json' })),
  fc.string({ maxLength: 200 }).map((text) => ({ text, type: 'application/json' })),
  fc.string({ maxLength: 100 }).map((text) => ({ text, type: 'text/plain' })),
  fc
    .constantFrom(
      '{"inputs":[',
      '[]',
      'null',
      '{}',
      '{"inputs":{}}',
      '\u0000',
      '{"__proto__":{"x":1}}',
      '[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]',
    )
    .map((text) => ({
      text,
      type: 'application/json',
    })),
  fc.constant({ text: '', type: 'application/octet-stream' }),
)

describe('every route survives random and mutated input', () => {
  it('answers only 2xx or 4xx with {error, code}, and stays alive', async () => {
    const statuses = new Map<number, number>()
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...ROUTES),
        body,
        fc.boolean(),
        async ([method, path], { text, type }, pathNoise) => {
          const target = pathNoise ? `${path}%2F..%2F${encodeURIComponent(text.slice(0, 8))}` : path
          const res = await client.request({
            method,
            path: target,
            headers: { 'content-type': type },
            ...(method === 'POST' ? { body: text } : {}),
          })
          const raw = await res.body.text()
          statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1)
          // The one 5xx a client can ask for: a deadline it set itself (parameters.timeout) that ran out.
          const ownDeadline =
            res.statusCode === 504 && raw.includes('NPU_ERR_DEADLINE_EXCEEDED') && text.includes('"timeout"')
          if (res.statusCode >= 500 && !ownDeadline)
            throw new Error(`${method} ${target} -> ${res.statusCode}: ${raw} (body ${text.slice(0, 200)})`)
          if (res.statusCode >= 400) {
            const parsed = JSON.parse(raw) as { error?: unknown; code?: unknown }
            expect(typeof parsed.error).toBe('string')
            expect(parsed.code).toMatch(/^NPU_ERR_[A-Z_]+$/)
          }
        },
      ),
      { numRuns: 5000, interruptAfterTimeLimit: 60_000 },
    )
    // The generators reach the codec (400s), the router (404s) and valid inference (200s), not just one of them.
    expect(statuses.get(200) ?? 0).toBeGreaterThan(0)
    expect(statuses.get(400) ?? 0).toBeGreaterThan(100)
    expect(statuses.get(404) ?? 0).toBeGreaterThan(0)
    const health = await client.request({ method: 'GET', path: '/health' })
    expect(health.statusCode).toBe(200)
    await health.body.dump()
    expect(worker.process.exitCode).toBeNull()
  }, 120_000)
})
