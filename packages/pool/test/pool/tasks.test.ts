import { EmbeddingsResponseSchema, OcrResultSchema } from '@npu-fleet/protocol'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
// The worker's own renderer of known text (sharp + Pango), so the OCR answer can be checked exactly.
import { renderTextImage } from '../../../../apps/npu-worker/test/tasks/ocr/text-image.js'
import { NpuWorkerPool } from '../../src/pool.js'
import {
  captureLogger,
  type MlpFleet,
  startMlpFleet,
  startWorker,
  type WorkerProcess,
  workerEntry,
} from '../helpers/fleet.js'

// executeTask through the task route (POST /v1/tasks/{type}) of real workers with the default repository
// (ocr and embeddings pipelines), next to a higher-priority worker that serves no task at all.

let taskWorkers: WorkerProcess[]
let mlpOnly: MlpFleet
let png: Buffer
const pools: NpuWorkerPool[] = []

beforeAll(async () => {
  ;[taskWorkers, mlpOnly, png] = await Promise.all([
    Promise.all([startWorker({ waitFor: 'ready' }), startWorker({ waitFor: 'ready' })]),
    startMlpFleet(1),
    renderTextImage({
      lines: ['Shipment 7 arrived'],
      font: 'DejaVu Sans 26',
      foreground: '#000000',
      background: '#ffffff',
    }),
  ])
})
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()))
})
afterAll(async () => {
  await Promise.all([...(taskWorkers ?? []).map((w) => w.stop('SIGKILL')), mlpOnly?.stop()])
})

async function pool() {
  const p = new NpuWorkerPool({
    config: {
      workers: [
        workerEntry('mlp-only', mlpOnly.workers[0]!.url, { priority: 10 }),
        workerEntry('tasks-a', taskWorkers[0]!.url, { priority: 5 }),
        workerEntry('tasks-b', taskWorkers[1]!.url, { priority: 5 }),
      ],
      load_balancing: { health_check_interval: 0, health_stale_seconds: 600 },
    },
    logger: captureLogger(),
  })
  pools.push(p)
  await p.initialize()
  return p
}

/** What a worker with the default repository serves: OCR, the embedder's tasks, the language model's tasks. */
const DEFAULT_TASKS = [
  'chat_inference',
  'embedding_generation',
  'embeddings',
  'knowledge_processing',
  'ocr',
  'semantic_search',
  'text_analysis',
]

describe('executeTask (real task pipelines)', () => {
  it('routes by the task types workers list in /health', async () => {
    const p = await pool()
    expect(p.getWorkers().map((w) => [w.id, w.tasks])).toEqual([
      ['mlp-only', []],
      ['tasks-a', DEFAULT_TASKS],
      ['tasks-b', DEFAULT_TASKS],
    ])
  })

  it('runs OCR on a worker that serves it and returns the text and where it ran', async () => {
    const p = await pool()
    const r = await p.executeTask('ocr', { image: png.toString('base64') })
    expect(r).toMatchObject({
      success: true,
      workerId: 'tasks-a',
      attempts: 1,
      model: 'ppocr-rec',
      backend: 'onnxruntime',
      device: 'CPU',
    })
    if (!r.success) return
    expect(OcrResultSchema.parse(r.result).lines.map((l) => l.text)).toEqual(['Shipment 7 arrived'])
  })

  it('returns the same embeddings from either worker (same model, real inference)', async () => {
    const p = await pool()
    const input = { input: ['the pool routes tasks', 'to npu workers'] }
    const [a, b] = await Promise.all([p.executeTask('embeddings', input), p.executeTask('embeddings', input)])
    expect([a.success && a.workerId, b.success && b.workerId].sort()).toEqual(['tasks-a', 'tasks-b'])
    if (!a.success || !b.success) return
    const ea = EmbeddingsResponseSchema.parse(a.result)
    const eb = EmbeddingsResponseSchema.parse(b.result)
    expect(ea.data).toHaveLength(2)
    expect(ea.data[0]?.embedding.length).toBeGreaterThan(0)
    expect(ea.data).toEqual(eb.data)
    expect(ea.data[0]?.embedding).not.toEqual(ea.data[1]?.embedding)
  })

  it('fails fast for a task type no worker serves, and returns bad task input at once', async () => {
    const p = await pool()
    expect(await p.executeTask('translate', { text: 'x' })).toEqual({
      success: false,
      error: 'no available worker serves task type "translate"',
      code: 'POOL_ERR_UNSUPPORTED',
      fallback: true,
      attempts: 0,
    })
    const bad = await p.executeTask('ocr', { image: 42 })
    expect(bad).toMatchObject({
      success: false,
      code: 'POOL_ERR_WORKER_REJECTED',
      attempts: 1,
      details: { status: 400, workerCode: 'NPU_ERR_BAD_TASK_INPUT' },
    })
    expect(p.getWorkers().every((w) => w.failures === 0)).toBe(true)
  })

  it('fails a task over to the other task worker when the first one is killed', async () => {
    const p = await pool()
    await taskWorkers[0]!.stop('SIGKILL')
    const r = await p.executeTask('embeddings', { input: 'after the kill' })
    expect(r).toMatchObject({ success: true, workerId: 'tasks-b', attempts: 2 })
    expect(p.getWorkers().find((w) => w.id === 'tasks-a')).toMatchObject({ failures: 1 })
  })
})
