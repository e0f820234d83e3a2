// Writes the inference self-test a release carries: one request for the generated `mlp` model and the answer
// ONNX Runtime gives for it on the CPU (FP32), computed here in-process from the very model file the release
// ships. The deploy (ansible role `npu_worker`, verify step) sends the request to the running worker and checks
// every output number against this answer, so a deploy only passes when the served model answers correctly.
//
// How close is close enough depends on the device that answers: the NPU computes in FP16. The fixture carries
// the tolerance table of the @npu-fleet/protocol package the release ships (TOLERANCE_OF_PRECISION, and what
// precisionOfDevice says for each device family), so the role picks the row for the device and precision the
// worker's /health reports for the model, with no copy of the numbers in the role.
//
// Usage: node make-selftest-fixture.mjs <release app dir> <output json>
import { mkdirSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { pathToFileURL } from 'node:url'

const [appDir, outFile] = process.argv.slice(2)
if (!appDir || !outFile) {
  process.stderr.write('usage: make-selftest-fixture.mjs <release app dir> <output json>\n')
  process.exit(2)
}

// Resolve onnxruntime-node from the release itself: the fixture is produced by the runtime that ships.
const require = createRequire(join(appDir, 'package.json'))
const ort = require('onnxruntime-node')
const protocol = await import(pathToFileURL(require.resolve('@npu-fleet/protocol')).href)

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
  reference: { backend: 'onnxruntime', device: 'CPU', precision: protocol.precisionOfDevice('CPU') },
  // |served - expected| <= atol + rtol * |expected| for every number, with the row of the precision the
  // serving device computes in: the model's `precision` in /health when the worker reports one, else the
  // device family's (`NPU.0` is `NPU`; a family not listed takes `default`).
  tolerances: protocol.TOLERANCE_OF_PRECISION,
  precision_of_device: {
    ...Object.fromEntries(
      ['CPU', 'GPU', 'NPU'].map((family) => [family, protocol.precisionOfDevice(family)]),
    ),
    default: protocol.precisionOfDevice(''),
  },
  // The CPU's row, for readers of the older single-tolerance fixture.
  tolerance: protocol.toleranceFor('CPU'),
  generated_by: `onnxruntime-node ${ort.env.versions?.node ?? 'unknown'} on node ${process.version}`,
}
mkdirSync(dirname(outFile), { recursive: true })
writeFileSync(outFile, `${JSON.stringify(fixture)}\n`)
process.stdout.write(`self-test fixture: ${outFile} (${fixture.expected.data.length} expected numbers)\n`)
