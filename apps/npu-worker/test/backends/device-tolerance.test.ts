// The device tolerances of @npu-fleet/protocol against the shipped models on an emulated FP16 device (the
// fake NPU's arithmetic: src/testing/fp16-onnx.ts). Shows that the emulation is FP16 arithmetic, that an
// FP32-only tolerance fails on an FP16 device, that the FP16 tolerance holds with margin on every model, and
// that a wrong answer fails at every tolerance. The numbers behind the table: `pnpm measure:fp16`.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  compareOutputs,
  type InferencePrecision,
  TOLERANCE_OF_PRECISION,
  type Tolerance,
} from '@npu-fleet/protocol'
import onnxProto from 'onnx-proto'
import ort from 'onnxruntime-node'
import { beforeAll, describe, expect, it } from 'vitest'
import {
  type DeviationCase,
  deviationCases,
  measureFp16Deviation,
  relativeL2,
} from '../../src/testing/fp16-deviation.js'
import { emulateFp16, roundToFp16 } from '../../src/testing/fp16-onnx.js'
import { loadMlpReference } from '../helpers/mlp-reference.js'
import { GENERATED_MODELS_DIR } from '../helpers/worker-process.js'

const { onnx } = onnxProto
const MLP = join(GENERATED_MODELS_DIR, 'mlp', '1', 'model.onnx')
/** The release self-test's input (scripts/release/make-selftest-fixture.mjs). */
const FIXTURE_INPUT = Float32Array.from({ length: 384 }, (_, i) => Math.sin(i * 0.37) * 1.5 + (i % 7) * 0.1)

let cases: DeviationCase[] = []
beforeAll(async () => {
  cases = await deviationCases(GENERATED_MODELS_DIR)
}, 120_000)

async function fp16Output(modelPath: string, feeds: Record<string, ort.Tensor>): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(
    emulateFp16(new Uint8Array(readFileSync(modelPath))).model,
  )
  const out = await session.run(feeds)
  await session.release()
  return Object.values(out)[0]!.data as Float32Array
}

describe('FP16 emulation', () => {
  it('is FP16 arithmetic: the rewritten mlp equals an independent half-precision evaluation exactly', async () => {
    // The same Gemm -> Relu -> Gemm evaluated here, rounding input, weights and every activation to half;
    // ONNX Runtime accumulates in float32 and this in float64, which may differ by one rounding step.
    const expected = halfMlp(Array.from(FIXTURE_INPUT, roundToFp16))
    const actual = await fp16Output(MLP, { input: new ort.Tensor('float32', FIXTURE_INPUT, [1, 384]) })
    expect(actual).toHaveLength(16)
    for (const [i, v] of actual.entries()) expect(Math.abs(v - expected[i]!)).toBeLessThanOrEqual(halfUlp(v))
    // Every value is a half.
    for (const v of actual) expect(roundToFp16(v)).toBe(v)
    // And it is not FP32: the model evaluated in float64 differs by more than FP32 rounding.
    const wide = loadMlpReference(MLP)(FIXTURE_INPUT, 1)
    expect(Array.from(actual).some((v, i) => Math.abs(v - wide[i]!) > 1e-5)).toBe(true)
  })

  it('an FP32-only tolerance fails on the FP16 device: 2 of the 16 mlp outputs for the self-test input', async () => {
    const feeds = { input: new ort.Tensor('float32', FIXTURE_INPUT, [1, 384]) }
    const { deviations } = await measureFp16Deviation(MLP, feeds)
    expect(deviations[0]!.outside(TOLERANCE_OF_PRECISION.FP32)).toBe(2)
    expect(deviations[0]!.outside(TOLERANCE_OF_PRECISION.FP16)).toBe(0)
  })
})

describe('the FP16 tolerance on the shipped models', () => {
  // The margin is 1.5, not the 2 the tolerance was set with: what an element needs moves with the build machine's
  // ONNX Runtime kernels (ppocr-rec on text: 1.4e-2 when the tolerance was set, 1.56e-2 on a 2-core VM with AVX2
  // and no AVX-512, the same on the commit before and after), so 2 held on one machine and not on the other.
  it('holds on every model and input, with a margin of 1.5 on the atol it needs', async () => {
    const tolerance = TOLERANCE_OF_PRECISION.FP16
    const measured: string[] = []
    for (const c of cases) {
      const { deviations } = await measureFp16Deviation(c.modelPath, c.feeds)
      for (const d of deviations) {
        measured.push(`${c.model}/${c.input}/${d.name}`)
        // Documented exception (tolerance.ts): the detector's map at text edges; checked apart below.
        if (c.model === 'ppocr-det' && c.input === 'text') continue
        expect(d.outside(tolerance), `${c.model} ${c.input} ${d.name}`).toBe(0)
        expect(d.atolNeededAt(tolerance.rtol) * 1.5, `${c.model} ${c.input} ${d.name}`).toBeLessThanOrEqual(
          tolerance.atol,
        )
      }
    }
    // Every shipped model was measured, the OCR models also on text.
    expect(measured).toEqual(
      expect.arrayContaining([
        'mlp/golden/output',
        'ppocr-cls/text/softmax_0.tmp_0',
        'ppocr-det/noise 2/sigmoid_0.tmp_0',
        'ppocr-rec/text/softmax_11.tmp_0',
        'tiny-bert-embed/golden/last_hidden_state',
      ]),
    )
  })

  it('documents the detector on text: few pixels move a lot, the map as a whole stays close', async () => {
    const c = cases.find((x) => x.model === 'ppocr-det' && x.input === 'text')!
    const { answers, deviations } = await measureFp16Deviation(c.modelPath, c.feeds)
    const [d] = deviations
    const fp32 = Object.values(answers.fp32)[0]!.data as Float32Array
    const fp16 = Object.values(answers.fp16)[0]!.data as Float32Array
    // Under 1% of the pixels outside the tolerance, and a relative L2 error of a few percent.
    expect(d!.outside(TOLERANCE_OF_PRECISION.FP16) / d!.elements).toBeLessThan(0.01)
    expect(relativeL2(fp16, fp32)).toBeLessThan(0.05)
  })
})

/** A wrong answer of the same shape: reversed, zeros, every element moved by `drift * (1 + |x|)`. */
function wrongAnswers(expected: Float32Array, drift: number): Record<string, Float32Array> {
  return {
    shuffled: Float32Array.from(expected).reverse(),
    zeros: new Float32Array(expected.length),
    drifted: Float32Array.from(expected, (x) => x + drift * (1 + Math.abs(x))),
  }
}

describe('a wrong answer', () => {
  // Outputs that carry information (a detector fed noise answers ~0 everywhere, where zeros are right).
  const informative = [
    ['mlp', 'golden'],
    ['ppocr-cls', 'text'],
    ['ppocr-det', 'text'],
    ['ppocr-rec', 'text'],
    ['tiny-bert-embed', 'golden'],
  ] as const

  it.each(informative)('fails at every tolerance on %s (%s input)', async (model, input) => {
    const c = cases.find((x) => x.model === model && x.input === input)!
    const { answers } = await measureFp16Deviation(c.modelPath, c.feeds)
    const expected = Object.values(answers.fp32)[0]!.data as Float32Array
    for (const [precision, tolerance] of Object.entries(TOLERANCE_OF_PRECISION) as [
      InferencePrecision,
      Tolerance,
    ][]) {
      for (const [kind, wrong] of Object.entries(wrongAnswers(expected, precision === 'BF16' ? 0.1 : 0.05))) {
        expect(compareOutputs(wrong, expected, tolerance).ok, `${kind} at ${precision}`).toBe(false)
      }
    }
  })
})

describe('the BF16 tolerance', () => {
  it('holds on the models whose opset allows the emulation (mlp, tiny-bert-embed)', async () => {
    for (const c of cases.filter((x) => x.model === 'mlp' || x.model === 'tiny-bert-embed')) {
      const { deviations } = await measureFp16Deviation(c.modelPath, c.feeds, 'bf16')
      for (const d of deviations)
        expect(d.outside(TOLERANCE_OF_PRECISION.BF16), `${c.model} ${c.input}`).toBe(0)
    }
  })
})

/** The generated mlp evaluated in JavaScript with input, weights and every intermediate value rounded to half. */
function halfMlp(input: readonly number[]): number[] {
  const model = onnx.ModelProto.decode(readFileSync(MLP))
  const weights = new Map<string, number[]>()
  for (const t of model.graph?.initializer ?? []) {
    const raw = t.rawData as Uint8Array
    const values = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength))
    weights.set(t.name as string, Array.from(values, roundToFp16))
  }
  const [w1, b1, w2, b2] = ['w1', 'b1', 'w2', 'b2'].map((n) => weights.get(n)!) as number[][]
  const hidden = b1!.length
  const outputs = b2!.length
  const h = Array.from({ length: hidden }, (_, j) => {
    let sum = b1![j]!
    for (let i = 0; i < input.length; i++) sum += input[i]! * w1![i * hidden + j]!
    // Gemm's result, then Relu's, each stored in half.
    return roundToFp16(Math.max(roundToFp16(sum), 0))
  })
  return Array.from({ length: outputs }, (_, k) => {
    let sum = b2![k]!
    for (let j = 0; j < hidden; j++) sum += h[j]! * w2![j * outputs + k]!
    return roundToFp16(sum)
  })
}

/** The spacing of halves around `x` (one rounding step). */
function halfUlp(x: number): number {
  return 2 ** (Math.floor(Math.log2(Math.max(Math.abs(x), 2 ** -14))) - 10)
}
