#!/usr/bin/env node
// How far an FP16 (NPU, GPU) or BF16 device lands from ONNX Runtime's FP32 answer on the shipped models, as
// emulated by src/testing/fp16-onnx.ts (weights, inputs and activations rounded, FP32 accumulation, Conv+BN
// folded as OpenVINO compiles it). The device tolerances in @npu-fleet/protocol (tolerance.ts) are set from
// this table; test/backends/device-tolerance.test.ts holds them to it. Not a speed benchmark: no timing.
//   pnpm --filter @npu-fleet/worker measure:fp16
import { TOLERANCE_OF_PRECISION } from '@npu-fleet/protocol'
import { DEFAULT_MODELS_DIR } from '../dist/models/default-model-repository.js'
import { deviationCases, measureFp16Deviation, relativeL2 } from '../dist/testing/fp16-deviation.js'

process.env.ORT_DISABLE_TELEMETRY ??= '1'
const cases = await deviationCases(DEFAULT_MODELS_DIR)
const rows = []
for (const precision of ['f16', 'bf16']) {
  const tolerance = TOLERANCE_OF_PRECISION[precision === 'f16' ? 'FP16' : 'BF16']
  for (const c of cases) {
    let measured
    try {
      measured = await measureFp16Deviation(c.modelPath, c.feeds, precision)
    } catch (err) {
      rows.push(`| ${precision} | ${c.model} | ${c.input} | not measured: ${err.message} |||||||`)
      continue
    }
    const { answers, deviations } = measured
    for (const d of deviations) {
      rows.push(
        `| ${precision} | ${c.model} | ${c.input} | ${d.elements} | ${d.maxMagnitude.toPrecision(3)} | ${d.maxAbsError.toExponential(2)} | ${d.atolNeededAt(tolerance.rtol).toExponential(2)} | ${relativeL2(answers.fp16[d.name].data, answers.fp32[d.name].data).toExponential(2)} | ${d.outside(TOLERANCE_OF_PRECISION.FP32)} | ${d.outside(tolerance)} |`,
      )
    }
  }
}
const t16 = TOLERANCE_OF_PRECISION.FP16
const tb = TOLERANCE_OF_PRECISION.BF16
console.log(`| emulated | model | input | elements | max abs | max abs error | atol needed at the table's rtol | relative L2 | outside FP32 tolerance | outside own tolerance |
| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
${rows.join('\n')}

Tolerances (|a - e| <= atol + rtol * |e|): FP32 atol ${TOLERANCE_OF_PRECISION.FP32.atol} rtol ${TOLERANCE_OF_PRECISION.FP32.rtol}; FP16 atol ${t16.atol} rtol ${t16.rtol}; BF16 atol ${tb.atol} rtol ${tb.rtol}.`)
