import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { elementCount, formatIssues, RequestInputSchema, TYPED_ARRAY_OF } from '@npu-fleet/protocol'
import { z } from 'zod'
import type { LoadedModel, TensorInfo } from '../backends/backend.js'
import type { Tensor } from '../backends/tensor.js'
import { tensorFromElements } from '../kserve/tensor-codec.js'
import { goldenInputs } from './golden-input.js'
import { staticShapesFor } from './model-load-spec.js'
import type { WarmupSection } from './model-manifest.js'
import type { ModelVersionSpec } from './model-repository.js'
import { mulberry32 } from './seeded-random.js'

/** What a warmup did, for `/health`. */
export interface WarmupRecord {
  data: WarmupSection['data']
  /** Inferences per batch size. */
  runs: number
  /** The batch sizes it ran at (the compiled ones; the model's own shape when none is compiled). */
  batchSizes: number[]
  /** When it started (epoch ms). */
  startedAt: number
  /** How long it took (ms); null while it runs. */
  durationMs: number | null
}

const WarmupSampleSchema = z.object({ inputs: z.array(RequestInputSchema).min(1) })

/** The inputs of a warmup sample file; throws naming the file and the field. */
function readWarmupSample(path: string): Record<string, Tensor> {
  const parsed = WarmupSampleSchema.safeParse(JSON.parse(readFileSync(path, 'utf8')))
  if (!parsed.success) throw new Error(formatIssues(parsed.error, path))
  return Object.fromEntries(
    parsed.data.inputs.map((t, i) => {
      if (t.data === undefined) throw new Error(`${path}: inputs[${i}].data: missing`)
      return [t.name, tensorFromElements(t.data, t.datatype, t.shape, `${path}: inputs[${i}].data`)]
    }),
  )
}

/** `base` with its first dimension set to `batch` (a model without dimensions keeps its shape). */
const withBatch = (base: readonly number[], batch: number) =>
  base.length === 0 ? [...base] : [batch, ...base.slice(1)]

/** Inputs of the model's shape at batch size `batch`, filled with zeros or seeded random values. */
function generatedInputs(
  inputs: readonly TensorInfo[],
  shapes: Record<string, number[]> | undefined,
  batch: number | null,
  data: 'zeros' | 'random',
): Record<string, Tensor> {
  // The golden input decides the shape of every dynamic dimension, as the self-test runs it.
  const shaped = goldenInputs(inputs, shapes)
  const random = mulberry32(0x5eed)
  const out: Record<string, Tensor> = {}
  for (const info of inputs) {
    const golden = shaped[info.name] as Tensor
    const shape = batch === null ? [...golden.shape] : withBatch(golden.shape, batch)
    const n = elementCount(shape)
    if (info.datatype === 'BYTES') {
      out[info.name] = { datatype: 'BYTES', shape, data: new Array<string>(n).fill('') }
      continue
    }
    const values = new TYPED_ARRAY_OF[info.datatype](n)
    if (data === 'random') {
      for (let i = 0; i < n; i++) {
        const x = random()
        if (values instanceof BigInt64Array || values instanceof BigUint64Array)
          values[i] = BigInt(x < 0.5 ? 0 : 1)
        // Floats in [-1, 1); integer inputs (ids, masks) 0 or 1, valid for any vocabulary.
        else values[i] = info.datatype.startsWith('FP') ? x * 2 - 1 : x < 0.5 ? 0 : 1
      }
    }
    out[info.name] = { datatype: info.datatype, shape, data: values } as Tensor
  }
  return out
}

/**
 * Runs `model.yaml` `warmup` on a loaded model: `runs` inferences at each compiled batch size (or at the model's
 * own shape), with zeros, seeded random data or a sample file's inputs (which keep their own shape). Each
 * inference is bounded by the backend's hard limit. `onStart` is told the plan before the first run.
 * Throws when an inference fails or the sample cannot be read: the caller does not serve that load.
 */
export async function runWarmup(
  spec: ModelVersionSpec,
  loaded: LoadedModel,
  section: WarmupSection,
  onStart: (record: WarmupRecord) => void,
): Promise<WarmupRecord> {
  // Each batch size's inputs, made once: the backend copies them per run (no transfer is asked for).
  let plan: Array<{ batch: number; inputs: Record<string, Tensor> }>
  const batchOf = (inputs: Record<string, Tensor>) => Object.values(inputs)[0]?.shape[0] ?? 1
  if (section.data === 'sample') {
    const sample = section.sample as string
    const folders = [...new Set([join(spec.modelPath, '..'), spec.modelDir])]
    const path = folders.map((folder) => join(folder, sample)).find((p) => existsSync(p))
    if (!path) throw new Error(`warmup.sample ${sample} not found in ${folders.join(' or ')}`)
    const inputs = readWarmupSample(path)
    plan = [{ batch: batchOf(inputs), inputs }]
  } else {
    const shapes = staticShapesFor(spec.manifest)
    const batches: Array<number | null> = loaded.compiledBatchSizes ? [...loaded.compiledBatchSizes] : [null]
    plan = batches.map((batch) => {
      const inputs = generatedInputs(loaded.inputs, shapes, batch, section.data as 'zeros' | 'random')
      return { batch: batch ?? batchOf(inputs), inputs }
    })
  }
  const record: WarmupRecord = {
    data: section.data,
    runs: section.runs,
    batchSizes: plan.map((p) => p.batch),
    startedAt: Date.now(),
    durationMs: null,
  }
  onStart(record)
  const started = performance.now()
  for (const step of plan) {
    for (let run = 0; run < section.runs; run++)
      await loaded.infer(step.inputs, undefined, { background: true })
  }
  return { ...record, durationMs: performance.now() - started }
}
