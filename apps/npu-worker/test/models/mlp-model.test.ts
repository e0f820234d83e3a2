import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as ort from 'onnxruntime-node'
import { describe, expect, it } from 'vitest'
import { buildMlpModel, MLP_DIMS } from '../../src/models/mlp-model.js'
import { loadMlpReference } from '../helpers/mlp-reference.js'

describe('generated MLP', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mlp-'))
  const path = join(dir, 'model.onnx')
  writeFileSync(path, buildMlpModel())

  it('is deterministic', () => {
    expect(Buffer.compare(Buffer.from(buildMlpModel()), Buffer.from(buildMlpModel()))).toBe(0)
  })

  it('runs in ONNX Runtime and matches the independent reference to 1e-5', async () => {
    const session = await ort.InferenceSession.create(path)
    expect(session.inputNames).toEqual(['input'])
    expect(session.outputNames).toEqual(['output'])
    const batch = 3
    const input = Float32Array.from({ length: batch * MLP_DIMS.input }, (_, i) => Math.sin(i) * 2)
    const result = await session.run({ input: new ort.Tensor('float32', input, [batch, MLP_DIMS.input]) })
    const output = result.output as ort.Tensor
    expect(output.dims).toEqual([batch, MLP_DIMS.output])
    const expected = loadMlpReference(path)(input, batch)
    const got = output.data as Float32Array
    let maxAbs = 0
    for (let i = 0; i < expected.length; i++) {
      expect(Math.abs((got[i] as number) - (expected[i] as number))).toBeLessThan(1e-5)
      maxAbs = Math.max(maxAbs, Math.abs(expected[i] as number))
    }
    // The weights are scaled so outputs are O(1): neither vanishing nor exploding.
    expect(maxAbs).toBeGreaterThan(0.05)
    expect(maxAbs).toBeLessThan(20)
    await session.release()
  })
})
