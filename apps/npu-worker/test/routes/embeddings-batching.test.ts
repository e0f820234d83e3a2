import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { EmbeddingsResponseSchema, HealthResponseSchema } from '@npu-fleet/protocol'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { GENERATED_MODELS_DIR, startWorker, type WorkerProcess } from '../helpers/worker-process.js'

// The embeddings pipeline batches through the worker's dynamic batcher: concurrent requests to a model with
// `batching:` are merged into fewer inferences, and every text gets exactly the vector it gets alone.

let repo: string
let worker: WorkerProcess

beforeAll(async () => {
  repo = mkdtempSync(join(tmpdir(), 'npu-embed-batching-'))
  cpSync(join(GENERATED_MODELS_DIR, 'tiny-bert-embed'), join(repo, 'tiny-bert-embed'), { recursive: true })
  const manifest = join(repo, 'tiny-bert-embed', 'model.yaml')
  // A long batching window, so that the merge does not depend on how fast this machine is.
  writeFileSync(
    manifest,
    readFileSync(manifest, 'utf8').replace(
      /^batching: .*$/m,
      'batching: { max_batch_size: 16, max_queue_delay_us: 300000 }',
    ),
  )
  worker = await startWorker({ modelsDir: repo, waitFor: 'ready' })
})

afterAll(async () => {
  await worker?.stop()
  rmSync(repo, { recursive: true, force: true })
})

async function embed(text: string): Promise<number[]> {
  const res = await fetch(`${worker.url}/v1/embeddings`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ input: text }),
  })
  expect(res.status).toBe(200)
  return EmbeddingsResponseSchema.parse(await res.json()).data[0]?.embedding as number[]
}

async function inferences(): Promise<number> {
  const text = await (await fetch(`${worker.url}/metrics`)).text()
  const line = text
    .split('\n')
    .find(
      (l) =>
        l.startsWith('npu_worker_inference_duration_seconds_count{') && l.includes('model="tiny-bert-embed"'),
    )
  return line ? Number(line.split(' ').at(-1)) : 0
}

describe('embeddings through the dynamic batcher', () => {
  it('says in /health how the model batches', async () => {
    const health = HealthResponseSchema.parse(await (await fetch(`${worker.url}/health`)).json())
    expect(health.models.find((m) => m.name === 'tiny-bert-embed')?.batching).toEqual({
      enabled: true,
      mode: 'dynamic',
      max_batch_size: 16,
      max_queue_delay_us: 300000,
      padded_to: null,
      reason: null,
    })
  })

  it('merges concurrent requests and gives each text the vector it gets alone', async () => {
    const texts = Array.from({ length: 12 }, (_, i) => `sentence number ${i} about ${'npu '.repeat(i)}fleets`)
    const alone: number[][] = []
    for (const text of texts) alone.push(await embed(text))
    const before = await inferences()
    const together = await Promise.all(texts.map(embed))
    const used = (await inferences()) - before
    expect(used).toBeLessThan(texts.length)
    together.forEach((vector, i) => {
      const expected = alone[i] as number[]
      expect(vector).toHaveLength(expected.length)
      for (let k = 0; k < vector.length; k++) expect(vector[k]).toBeCloseTo(expected[k] as number, 6)
    })
  })
})
