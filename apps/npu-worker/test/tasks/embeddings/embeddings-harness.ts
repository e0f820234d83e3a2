import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import pino from 'pino'
import { OnnxRuntimeBackend } from '../../../src/backends/onnxruntime.js'
import { OpenvinoBackend } from '../../../src/backends/openvino.js'
import type { Tensor } from '../../../src/backends/tensor.js'
import { ErrModelNotFound } from '../../../src/errors.js'
import { ModelRegistry } from '../../../src/models/model-registry.js'
import { scanModelRepository } from '../../../src/models/model-repository.js'
import { Scheduler } from '../../../src/scheduler/scheduler.js'
import {
  createEmbeddingsPipeline,
  type EmbeddingsPipeline,
} from '../../../src/tasks/embeddings/embeddings-pipeline.js'
import type { ModelCallResult, TaskContext } from '../../../src/tasks/task-pipeline.js'
import { DIST_THREAD_ENTRIES } from '../../helpers/thread-entries.js'

/** Files of one model folder, by path relative to it (e.g. `model.yaml`, `1/model.onnx`). */
export type ModelFiles = Record<string, string | Uint8Array>

/** One model call the pipeline made, as the scheduler saw it. */
export interface RecordedCall {
  model: string
  shapes: Record<string, number[]>
}

/** A real registry (OpenVINO when it loads, else ONNX Runtime), scheduler and pipeline over a temporary repository. */
export interface EmbeddingsHarness {
  dir: string
  registry: ModelRegistry
  pipeline: EmbeddingsPipeline
  /** Every model call made through `context()`. */
  calls: RecordedCall[]
  /** A task context whose `infer` runs the model through the scheduler, as the task route does. */
  context(signal?: AbortSignal): TaskContext
  close(): Promise<void>
}

const silent = pino({ level: 'silent' })

/** Writes `models` into a temporary repository, loads it, and builds the embeddings pipeline on it. */
export async function startEmbeddingsHarness(models: Record<string, ModelFiles>): Promise<EmbeddingsHarness> {
  const dir = mkdtempSync(join(tmpdir(), 'embeddings-models-'))
  for (const [name, files] of Object.entries(models)) {
    for (const [file, data] of Object.entries(files)) {
      const path = join(dir, name, file)
      mkdirSync(dirname(path), { recursive: true })
      writeFileSync(path, data)
    }
  }
  const backends = {
    openvino: new OpenvinoBackend(),
    onnxruntime: new OnnxRuntimeBackend({ threadEntry: DIST_THREAD_ENTRIES.onnxruntime }),
  }
  const registry = new ModelRegistry({
    specs: scanModelRepository(dir).specs,
    backends,
    defaults: {
      threads: 1,
      instances: 2,
      instanceIdleTimeoutMs: null,
      queueMaxQueued: 64,
      performanceHint: 'LATENCY',
      inferTimeoutMs: 60_000,
    },
    cacheDir: null,
    log: silent,
  })
  const pipeline = createEmbeddingsPipeline(registry)
  await registry.loadAll()
  const scheduler = new Scheduler({ defaults: { queueMaxQueued: 64 } })
  const calls: RecordedCall[] = []
  return {
    dir,
    registry,
    pipeline,
    calls,
    context(signal = new AbortController().signal): TaskContext {
      return {
        signal,
        log: silent,
        generate: () => Promise.reject(new Error('this test serves no language model')),
        async infer(model, inputs, outputNames): Promise<ModelCallResult> {
          const registered = registry.resolve(model)
          if (!registered) throw new ErrModelNotFound(model)
          calls.push({
            model,
            shapes: Object.fromEntries(
              Object.entries(inputs).map(([n, t]: [string, Tensor]) => [n, t.shape]),
            ),
          })
          const outputs = await scheduler.run(registered, inputs, {
            signal,
            ...(outputNames ? { outputNames } : {}),
          })
          const loaded = registered.ready()
          if (!loaded) throw new Error(`${model} unloaded during the call`)
          return { outputs, model, backend: loaded.backend, device: loaded.device }
        },
      }
    },
    async close() {
      await registry.unloadAll()
      await Promise.all([backends.openvino.close(), backends.onnxruntime.close()])
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
