import { describe, expect, it } from 'vitest'
import { resolveWorkerConfig } from '../../src/config.js'
import { loadSpecFor, modelDefaultsOf } from '../../src/models/model-load-spec.js'
import { ModelManifestSchema } from '../../src/models/model-manifest.js'
import type { ModelVersionSpec } from '../../src/models/model-repository.js'

const versionSpec = (manifest: unknown): ModelVersionSpec => ({
  name: 'mlp',
  version: '1',
  manifest: ModelManifestSchema.parse(manifest),
  modelPath: '/models/mlp/1/model.onnx',
  modelDir: '/models/mlp',
})

describe('instance_idle_timeout_ms: model.yaml over the worker default', () => {
  const defaults = modelDefaultsOf(resolveWorkerConfig({}))
  const idleOf = (manifest: unknown, d = defaults) =>
    loadSpecFor(versionSpec(manifest), 'CPU', d, null).instanceIdleTimeoutMs

  it('the worker default (15 s) unless model.yaml says; `never` is always on (null)', () => {
    expect(idleOf({})).toBe(15_000)
    expect(idleOf({ instance_idle_timeout_ms: 500 })).toBe(500)
    expect(idleOf({ instance_idle_timeout_ms: 'never' })).toBeNull()
    const alwaysOn = modelDefaultsOf(resolveWorkerConfig({ default_instance_idle_timeout_ms: 'never' }))
    expect(idleOf({}, alwaysOn)).toBeNull()
    expect(idleOf({ instance_idle_timeout_ms: 2_000 }, alwaysOn)).toBe(2_000)
  })

  it('refuses anything else in model.yaml, naming the key', () => {
    for (const bad of [0, 1.5, 'soon', -1, 86_400_001]) {
      const parsed = ModelManifestSchema.safeParse({ instance_idle_timeout_ms: bad })
      expect(parsed.success).toBe(false)
      expect(parsed.error?.issues[0]).toMatchObject({
        path: ['instance_idle_timeout_ms'],
        message: 'expected an integer 1..86400000 (ms) or never',
      })
    }
  })
})
