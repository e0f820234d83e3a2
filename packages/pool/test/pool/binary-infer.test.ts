import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { NpuWorkerPool } from '../../src/pool.js'
import { captureLogger, type MlpFleet, mlpRequest, startMlpFleet, workerEntry } from '../helpers/fleet.js'

// pool.infer(..., { binary: true }) speaks the KServe binary tensor extension to real workers: typed-array
// inputs go as raw bytes, outputs come back as typed arrays, and the numbers equal the JSON round trip.

let fleet: MlpFleet
let pool: NpuWorkerPool

beforeAll(async () => {
  fleet = await startMlpFleet(2)
  pool = new NpuWorkerPool({
    config: { workers: fleet.workers.map((w, i) => workerEntry(`w${i}`, w.url)) },
    logger: captureLogger(),
  })
  await pool.initialize()
})
afterAll(async () => {
  await pool?.close()
  await fleet?.stop()
})

describe('infer with binary tensors (real workers)', () => {
  it('sends typed arrays as bytes and returns typed arrays equal to the JSON answer', async () => {
    const json = mlpRequest(3, 7)
    const viaJson = await pool.infer('mlp', json)
    const typed = {
      inputs: [{ ...json.inputs[0], data: Float32Array.from(json.inputs[0]?.data ?? []) }],
    }
    const viaBinary = await pool.infer('mlp', typed, { binary: true })
    expect(viaJson.success && viaBinary.success).toBe(true)
    if (!viaJson.success || !viaBinary.success) return
    const out = viaBinary.result.outputs[0]
    expect(out).toMatchObject({ name: 'output', datatype: 'FP32', shape: [3, 16] })
    expect(out?.data).toBeInstanceOf(Float32Array)
    expect(Array.from(out?.data as unknown as Float32Array)).toEqual(viaJson.result.outputs[0]?.data)
  })

  it('keeps plain JSON inputs JSON inside a binary request, and a bad request is the worker 400', async () => {
    const mixed = await pool.infer('mlp', mlpRequest(1, 2), { binary: true })
    expect(mixed.success).toBe(true)
    if (mixed.success) expect(mixed.result.outputs[0]?.data).toBeInstanceOf(Float32Array)
    const bad = await pool.infer(
      'mlp',
      { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 384], data: new Float32Array(10) }] },
      { binary: true },
    )
    expect(bad).toMatchObject({ success: false, code: 'POOL_ERR_WORKER_REJECTED', attempts: 1 })
    expect(await pool.infer('mlp', 'not a request', { binary: true })).toMatchObject({
      success: false,
      code: 'POOL_ERR_BAD_ARGUMENT',
    })
  })
})
