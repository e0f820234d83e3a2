import { join } from 'node:path'
import { InferResponseSchema } from '@npu-fleet/protocol'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { OFF_THREAD_JSON_BYTES } from '../../src/http/infer-body-reader.js'
import { OFF_THREAD_JSON_ELEMENTS } from '../../src/kserve/json-codec-pool.js'
import { loadMlpReference } from '../helpers/mlp-reference.js'
import {
  makeMlpModelRepository,
  startWorker,
  type TempModelRepository,
  type WorkerProcess,
} from '../helpers/worker-process.js'

// Large JSON infer bodies are parsed and decoded, and large JSON answers written, on the JSON thread: same
// answers, same 400s (field named, prototype poisoning refused) as the inline path small bodies take.

let repo: TempModelRepository
let worker: WorkerProcess

beforeAll(async () => {
  repo = makeMlpModelRepository()
  worker = await startWorker({ modelsDir: repo.dir, waitFor: 'ready' })
})

afterAll(async () => {
  await worker?.stop()
  repo?.cleanup()
})

const BATCH = 64 // 64×384 numbers: ~300 KB of JSON, well above the off-thread threshold
const input = Array.from({ length: BATCH * 384 }, (_, i) => Math.sin(i * 0.01) / 3)

async function post(body: string) {
  const res = await fetch(`${worker.url}/v2/models/mlp/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
  })
  return { status: res.status, body: (await res.json()) as Record<string, unknown> }
}

describe('large JSON bodies decoded off the main thread', () => {
  it('computes the same answer as the reference, nested data included', async () => {
    const flat = JSON.stringify({
      inputs: [{ name: 'input', datatype: 'FP32', shape: [BATCH, 384], data: input }],
    })
    expect(flat.length).toBeGreaterThan(OFF_THREAD_JSON_BYTES)
    const res = await post(flat)
    expect(res.status).toBe(200)
    const out = InferResponseSchema.parse(res.body).outputs[0]?.data as number[]
    const expected = loadMlpReference(join(repo.dir, 'mlp', '1', 'model.onnx'))(input, BATCH)
    expect(out).toHaveLength(expected.length)
    for (let i = 0; i < out.length; i++) expect(out[i]).toBeCloseTo(expected[i] as number, 4)
    const rows = Array.from({ length: BATCH }, (_, r) => input.slice(r * 384, (r + 1) * 384))
    const nested = await post(
      JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [BATCH, 384], data: rows }] }),
    )
    expect(InferResponseSchema.parse(nested.body).outputs[0]?.data).toEqual(out)
  })

  it('writes a big JSON answer on the JSON thread: the same numbers, valid protocol JSON', async () => {
    const batch = Math.ceil(OFF_THREAD_JSON_ELEMENTS / 16) + 8 // outputs above the off-thread threshold
    const big = Array.from({ length: batch * 384 }, (_, i) => Math.cos(i * 0.003) / 4)
    const res = await fetch(`${worker.url}/v2/models/mlp/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        id: 'big-1',
        inputs: [{ name: 'input', datatype: 'FP32', shape: [batch, 384], data: big }],
      }),
    })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^application\/json/)
    const body = InferResponseSchema.parse(await res.json())
    expect(body).toMatchObject({ model_name: 'mlp', model_version: '1', id: 'big-1' })
    const out = body.outputs[0]
    expect(out).toMatchObject({ name: 'output', datatype: 'FP32', shape: [batch, 16] })
    const expected = loadMlpReference(join(repo.dir, 'mlp', '1', 'model.onnx'))(big, batch)
    expect(out?.data).toHaveLength(expected.length)
    const data = (out?.data ?? []) as number[]
    for (let i = 0; i < expected.length; i += 97) expect(data[i]).toBeCloseTo(expected[i] as number, 4)
  })

  it('answers the same 400s, naming the field', async () => {
    const bad = [...input]
    bad[20_000] = 'x' as unknown as number
    const element = await post(
      JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [BATCH, 384], data: bad }] }),
    )
    expect(element).toMatchObject({ status: 400, body: { code: 'NPU_ERR_BAD_INFER_REQUEST' } })
    expect(element.body.error).toMatch(/^inputs\[0\]\.data\[20000\]: expected a number, got "x"/)
    const count = await post(
      JSON.stringify({
        inputs: [{ name: 'input', datatype: 'FP32', shape: [BATCH, 384], data: input.slice(1) }],
      }),
    )
    expect(count.body.error).toMatch(/inputs\[0\]\.data: expected 24576 elements/)
    const schema = await post(
      JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP99', shape: [BATCH, 384], data: input }] }),
    )
    expect(schema).toMatchObject({ status: 400, body: { code: 'NPU_ERR_BAD_INFER_REQUEST' } })
    expect(schema.body.error).toMatch(/inputs\.0\.datatype|inputs\[0\]\.datatype/)
    const model = await post(
      JSON.stringify({ inputs: [{ name: 'other', datatype: 'FP32', shape: [BATCH, 384], data: input }] }),
    )
    expect(model.body.error).toMatch(/inputs\[0\]\.name: unknown input "other"/)
    const truncated = await post(
      JSON.stringify({
        inputs: [{ name: 'input', datatype: 'FP32', shape: [BATCH, 384], data: input }],
      }).slice(0, -5),
    )
    expect(truncated).toMatchObject({ status: 400, body: { code: 'NPU_ERR_MALFORMED_BODY' } })
    const poisoned = `{"__proto__":{"polluted":true},${JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [BATCH, 384], data: input }] }).slice(1)}`
    expect(await post(poisoned)).toMatchObject({ status: 400, body: { code: 'NPU_ERR_MALFORMED_BODY' } })
    // Still serving.
    expect((await fetch(`${worker.url}/health`)).status).toBe(200)
  })
})
