import { cpSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ModelStatisticsResponseSchema } from '@npu-fleet/protocol'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { expectConsistent, HealthPoller, type HealthSample } from '../helpers/health-poller.js'
import {
  makeMlpModelRepository,
  startWorker,
  type TempModelRepository,
  type WorkerProcess,
} from '../helpers/worker-process.js'
import { addSlowModel, SLOW_MODEL_WIDTH } from './fixtures/slow-model.js'

// model.yaml `warmup` against a real worker process: the slow model's warmup sample asks for many loop
// iterations, so its warmup takes real compute time (no fake in the serving path) while /health is polled.
// /health never says the model is ready while it warms, and shows how long the warmup took; a warmup with
// random data runs at the model's shape; warmup inferences are not client statistics; a broken `warmup:` is
// refused naming its key.

const WARMUP_ITERATIONS = 20_000

let repo: TempModelRepository
let worker: WorkerProcess
let samples: HealthSample[]

beforeAll(async () => {
  repo = makeMlpModelRepository()
  writeFileSync(
    join(repo.dir, 'mlp', 'model.yaml'),
    'devices: [CPU]\ninstances: 1\nwarmup: { runs: 3, data: random }\n',
  )
  addSlowModel(repo.dir)
  writeFileSync(
    join(repo.dir, 'slow', 'model.yaml'),
    'devices: [CPU]\ninstances: 1\nthreads: 1\nwarmup: { runs: 2, data: sample, sample: warm.json }\n',
  )
  writeFileSync(
    join(repo.dir, 'slow', 'warm.json'),
    JSON.stringify({
      inputs: [
        { name: 'n', datatype: 'INT64', shape: [1], data: [WARMUP_ITERATIONS] },
        {
          name: 'x',
          datatype: 'FP32',
          shape: [1, SLOW_MODEL_WIDTH],
          data: new Array(SLOW_MODEL_WIDTH).fill(0.5),
        },
      ],
    }),
  )
  // A copy whose warmup asks for a sample without naming it: refused at the scan, its key named.
  const broken = join(repo.dir, 'broken')
  cpSync(join(repo.dir, 'slow'), broken, { recursive: true })
  writeFileSync(join(broken, 'model.yaml'), 'devices: [CPU]\nwarmup: { data: sample }\n')

  worker = await startWorker({ modelsDir: repo.dir, waitFor: 'listening' })
  const poller = new HealthPoller(worker.url, 10)
  await poller.until(({ body }) => body.models.find((m) => m.name === 'slow')?.state === 'ready', 120_000)
  await poller.until(({ body }) => body.status !== 'starting', 120_000)
  samples = await poller.stop()
})

afterAll(async () => {
  await worker?.stop()
  repo?.cleanup()
})

const slowOf = (s: HealthSample) => s.body.models.find((m) => m.name === 'slow')

describe('warmup', () => {
  it('/health shows the model warming, never ready, until its warmup is done', () => {
    const warming = samples.filter((s) => slowOf(s)?.state === 'warming')
    expect(warming.length).toBeGreaterThan(0)
    for (const s of samples) expectConsistent(s)
    for (const s of warming) {
      const slow = slowOf(s)
      expect(slow?.ready).toBe(false)
      expect(s.body.capabilities.models).not.toContain('slow')
      expect(slow?.warmup).toMatchObject({ data: 'sample', runs: 2, duration_ms: null })
      expect(s.body.status).not.toBe('healthy')
    }
    // Warming comes before ready, and never after it.
    const states = samples.map((s) => slowOf(s)?.state)
    expect(states.lastIndexOf('warming')).toBeLessThan(states.indexOf('ready'))
  })

  it('says how long the warmup took, and at which batch sizes', async () => {
    const body = (await (await fetch(`${worker.url}/health`)).json()) as {
      models: Array<{ name: string; state: string; warmup?: Record<string, unknown> | null }>
    }
    const slow = body.models.find((m) => m.name === 'slow')
    expect(slow?.state).toBe('ready')
    expect(slow?.warmup).toMatchObject({ data: 'sample', runs: 2, batch_sizes: [1] })
    expect(slow?.warmup?.duration_ms as number).toBeGreaterThan(0)
    const mlp = body.models.find((m) => m.name === 'mlp')
    expect(mlp?.warmup).toMatchObject({ data: 'random', runs: 3, batch_sizes: [1] })
    expect(mlp?.warmup?.duration_ms as number).toBeGreaterThan(0)
  })

  it('does not count warmup inferences as client statistics', async () => {
    const stats = ModelStatisticsResponseSchema.parse(
      await (await fetch(`${worker.url}/v2/models/stats`)).json(),
    )
    for (const m of stats.model_stats) expect(m.inference_count).toBe(0)
  })

  it('refuses a warmup that asks for a sample without naming one, naming the key', () => {
    expect(samples.at(-1)?.body.models.map((m) => m.name)).not.toContain('broken')
    expect(worker.logs()).toMatch(/broken[^\n]*warmup\.sample/)
  })
})
