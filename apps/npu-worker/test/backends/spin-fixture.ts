import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll } from 'vitest'
import type { ModelLoadSpec } from '../../src/backends/backend.js'
import type { Tensor } from '../../src/backends/tensor.js'
import { buildSpinModel } from '../../src/testing/spin-model.js'

/**
 * The spin model written to a temp dir for the calling test file (created before its tests, removed after), and
 * its load spec with the file's own defaults; each test overrides what it is about.
 */
export function spinModelFile(
  dirPrefix: string,
  defaults: Partial<ModelLoadSpec>,
): (overrides?: Partial<ModelLoadSpec>) => ModelLoadSpec {
  let dir = ''
  let modelPath = ''
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), dirPrefix))
    modelPath = join(dir, 'spin.onnx')
    writeFileSync(modelPath, buildSpinModel())
  })
  afterAll(() => rmSync(dir, { recursive: true, force: true }))
  return (overrides = {}) => ({
    name: 'spin',
    version: '1',
    modelPath,
    device: 'CPU',
    threads: 1,
    instances: 1,
    performanceHint: 'LATENCY',
    cacheDir: null,
    inferTimeoutMs: 300,
    ...defaults,
    ...overrides,
  })
}

/** Inputs that keep the thread inside native `run` for about `iterations` microseconds; `y` = iterations + x. */
export const spin = (iterations: number, x = 1): Record<string, Tensor> => ({
  iterations: { datatype: 'INT64', shape: [1], data: BigInt64Array.of(BigInt(iterations)) },
  x: { datatype: 'FP32', shape: [1], data: Float32Array.of(x) },
})
