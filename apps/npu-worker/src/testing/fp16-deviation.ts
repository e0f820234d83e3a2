import { readFile } from 'node:fs/promises'
import type { Tolerance } from '@npu-fleet/protocol'
import ort from 'onnxruntime-node'
import { goldenInputs } from '../models/golden-input.js'
import { scanModelRepository } from '../models/model-repository.js'
import { emulateFp16 } from './fp16-onnx.js'

// Measures how far a device computing in FP16 (or BF16) lands from ONNX Runtime's FP32 answer, on the shipped
// models, with the emulation of fp16-onnx.ts. The device tolerances of @npu-fleet/protocol are set from these
// numbers (`pnpm --filter @npu-fleet/worker measure:fp16` prints them; test/backends/device-tolerance.test.ts
// holds the table to them).

/** How far an FP16 device's answer is from the FP32 one, for one output. */
export interface OutputDeviation {
  name: string
  elements: number
  /** Largest |fp16 - fp32|. */
  maxAbsError: number
  /** Largest |fp32| (the output's magnitude). */
  maxMagnitude: number
  /** Smallest atol that admits every element at `rtol` (0 if rtol alone does). */
  atolNeededAt(rtol: number): number
  /** Elements outside `tolerance`. */
  outside(tolerance: Tolerance): number
}

/** The FP32 (ONNX Runtime) and FP16-emulated answers of one model to the same inputs. */
export interface Fp16Answers {
  fp32: Record<string, ort.Tensor>
  fp16: Record<string, ort.Tensor>
}

/**
 * Runs `feeds` through the model as ONNX Runtime computes it (FP32) and as an FP16 device does (weights,
 * inputs and activations rounded to half: fp16-onnx.ts), and measures the difference per output.
 */
export async function measureFp16Deviation(
  modelPath: string,
  feeds: Record<string, ort.Tensor>,
  precision: 'f16' | 'bf16' = 'f16',
): Promise<{ answers: Fp16Answers; deviations: OutputDeviation[] }> {
  const bytes = new Uint8Array(await readFile(modelPath))
  const fp32 = await ort.InferenceSession.create(bytes)
  const fp16 = await ort.InferenceSession.create(emulateFp16(bytes, precision).model)
  try {
    const answers = { fp32: await fp32.run(feeds), fp16: await fp16.run(feeds) }
    const deviations = Object.keys(answers.fp32).map((name): OutputDeviation => {
      const e = answers.fp32[name]!.data as Float32Array
      const a = answers.fp16[name]!.data as Float32Array
      let maxAbsError = 0
      let maxMagnitude = 0
      for (let i = 0; i < e.length; i++) {
        maxAbsError = Math.max(maxAbsError, Math.abs(a[i]! - e[i]!))
        maxMagnitude = Math.max(maxMagnitude, Math.abs(e[i]!))
      }
      return {
        name,
        elements: e.length,
        maxAbsError,
        maxMagnitude,
        atolNeededAt(rtol) {
          let need = 0
          for (let i = 0; i < e.length; i++)
            need = Math.max(need, Math.abs(a[i]! - e[i]!) - rtol * Math.abs(e[i]!))
          return need
        },
        outside({ atol, rtol }) {
          let n = 0
          for (let i = 0; i < e.length; i++)
            if (!(Math.abs(a[i]! - e[i]!) <= atol + rtol * Math.abs(e[i]!))) n++
          return n
        },
      }
    })
    return { answers, deviations }
  } finally {
    await Promise.all([fp32.release(), fp16.release()])
  }
}

/** One measured case: a model and the inputs it is run on. */
export interface DeviationCase {
  model: string
  /** `golden` (the doctor's input), `noise N` (uniform in [-1, 1], seed N), or `text` (a rendered text image). */
  input: string
  modelPath: string
  feeds: Record<string, ort.Tensor>
}

/** Uniform values in [-1, 1] from a seeded LCG, so every run measures the same numbers. */
export function seededNoise(length: number, seed: number): Float32Array {
  const out = new Float32Array(length)
  let state = (seed * 7919) >>> 0 || 1
  for (let i = 0; i < length; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0
    out[i] = (state / 2 ** 32) * 2 - 1
  }
  return out
}

/** Black text on white, `width` x `height`, normalised as PP-OCR expects ((x / 255 - 0.5) / 0.5), NCHW. */
export async function textImageTensor(
  text: string,
  width: number,
  height: number,
  size: number,
): Promise<ort.Tensor> {
  const { default: sharp } = await import('sharp')
  const { data } = await sharp({
    text: {
      text: `<span foreground="black">${text}</span>`,
      font: `DejaVu Sans ${size}`,
      dpi: 72,
      rgba: true,
    },
  })
    .flatten({ background: '#ffffff' })
    .resize(width, height, { fit: 'contain', background: '#ffffff' })
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true })
  const plane = width * height
  const out = new Float32Array(3 * plane)
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < 3; c++) out[c * plane + i] = (data[i * 3 + c]! / 255 - 0.5) / 0.5
  }
  return new ort.Tensor('float32', out, [1, 3, height, width])
}

/** Relative L2 error `||actual - expected|| / ||expected||`. */
export function relativeL2(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let num = 0
  let den = 0
  for (let i = 0; i < expected.length; i++) {
    num += (actual[i]! - expected[i]!) ** 2
    den += expected[i]! ** 2
  }
  return Math.sqrt(num / den)
}

/** Text the OCR models see in the `text` cases. */
const TEXT_CASES: Record<string, { width: number; height: number; text: string; size: number }> = {
  'ppocr-det': {
    width: 640,
    height: 640,
    text: 'Invoice 48213\nTotal 1249.50 EUR\nHello World 2026',
    size: 48,
  },
  'ppocr-rec': { width: 320, height: 48, text: 'Hello World 2026', size: 32 },
  'ppocr-cls': { width: 192, height: 48, text: 'Hello World 2026', size: 32 },
}

/**
 * The cases measured for every model of a repository: the doctor's golden input, two seeded noise inputs
 * (float inputs only; integer inputs keep the golden values), and for the OCR models a rendered text image.
 */
export async function deviationCases(modelsDir: string): Promise<DeviationCase[]> {
  const cases: DeviationCase[] = []
  const ORT_TYPE: Record<string, ort.Tensor.Type> = { FP32: 'float32', INT64: 'int64', INT32: 'int32' }
  for (const spec of scanModelRepository(modelsDir).specs) {
    const session = await ort.InferenceSession.create(spec.modelPath)
    const infos = session.inputMetadata.map((m) => {
      if (!m.isTensor) throw new Error(`${spec.name}: input ${m.name} is not a tensor`)
      const datatype = m.type === 'float32' ? 'FP32' : m.type === 'int64' ? 'INT64' : 'INT32'
      return { name: m.name, datatype, shape: m.shape.map((d) => (typeof d === 'number' ? d : -1)) } as const
    })
    await session.release()
    // Batch 1 of the compiled static shapes.
    const shapes = Object.fromEntries(
      Object.entries(spec.manifest.static_shapes ?? {}).map(([name, dims]) => [name, [1, ...dims.slice(1)]]),
    )
    const golden = goldenInputs(infos, shapes)
    const feedsOf = (noiseSeed: number | null) =>
      Object.fromEntries(
        Object.entries(golden).map(([name, t]) => {
          const data =
            noiseSeed !== null && t.datatype === 'FP32' ? seededNoise(t.data.length, noiseSeed) : t.data
          return [name, new ort.Tensor(ORT_TYPE[t.datatype]!, data as Float32Array, t.shape)]
        }),
      )
    cases.push({ model: spec.name, input: 'golden', modelPath: spec.modelPath, feeds: feedsOf(null) })
    for (const seed of [1, 2]) {
      cases.push({
        model: spec.name,
        input: `noise ${seed}`,
        modelPath: spec.modelPath,
        feeds: feedsOf(seed),
      })
    }
    const text = TEXT_CASES[spec.name]
    if (text) {
      const x = await textImageTensor(text.text, text.width, text.height, text.size)
      cases.push({ model: spec.name, input: 'text', modelPath: spec.modelPath, feeds: { x } })
    }
  }
  return cases
}
