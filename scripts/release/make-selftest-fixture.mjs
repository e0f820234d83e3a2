// Writes the inference self-test a release carries: one request for the generated `mlp` model and the answer
// ONNX Runtime gives for it, computed here in-process from the very model file the release ships.
// The deploy (ansible role `npu_worker`, verify step) sends the request to the running worker and checks
// every output number against this answer, so a deploy only passes when the served model answers correctly.
//
// Usage: node make-selftest-fixture.mjs <release app dir> <output json>
import { mkdirSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'

const [appDir, outFile] = process.argv.slice(2)
if (!appDir || !outFile) {
  process.stderr.write('usage: make-selftest-fixture.mjs <release app dir> <output json>\n')
  process.exit(2)
}

// Resolve onnxruntime-node from the release itself: the fixture is produced by the runtime that ships.
const require = createRequire(join(appDir, 'package.json'))
const ort = require('onnxruntime-node')

const modelPath = join(appDir, 'generated', 'models', 'mlp', '1', 'model.onnx')
const inputLength = 384
// A fixed, varied input (not all equal values, so a wrong weight or a transposed layer shows). Rounded to
// float32 first: the worker decodes JSON numbers to FP32, and so must the reference.
const input = Float32Array.from({ length: inputLength }, (_, i) => Math.sin(i * 0.37) * 1.5 + (i % 7) * 0.1)

const session = await ort.InferenceSession.create(modelPath, { intraOpNumThreads: 1 })
const result = await session.run({ input: new ort.Tensor('float32', input, [1, inputLength]) })
const output = result.output
await session.release()

const fixture = {
  model: 'mlp',
  request: {
    inputs: [{ name: 'input', shape: [1, inputLength], datatype: 'FP32', data: Array.from(input) }],
  },
  expected: { name: 'output', shape: output.dims.map(Number), data: Array.from(output.data) },
  // |served - expected| <= atol + rtol * |expected| for every number (FP32 on another device or thread count
  // may round differently in the last bits; a wrong model is off by orders of magnitude more).
  tolerance: { atol: 1e-4, rtol: 1e-3 },
  generated_by: `onnxruntime-node ${ort.env.versions?.node ?? 'unknown'} on node ${process.version}`,
}
mkdirSync(dirname(outFile), { recursive: true })
writeFileSync(outFile, `${JSON.stringify(fixture)}\n`)
process.stdout.write(`self-test fixture: ${outFile} (${fixture.expected.data.length} expected numbers)\n`)
