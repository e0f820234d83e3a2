#!/usr/bin/env node
// `pnpm --filter @npu-fleet/worker bench:batching`: dynamic batching, batched ÷ unbatched throughput,
// served over HTTP by one real worker holding both variants of each model:
//  - `ppocr-rec`, the PP-OCRv4 recognizer at the OCR pipeline's own shape (1×3×48×320 line crops), at
//    concurrency 16: the model that matters;
//  - `mlp` (384→256→16, 0.4 MB of weights: compute is tiny, HTTP dominates), at concurrency 32;
//  - `wide` (1024→4096→1024, 34 MB of weights: a batch-1 inference streams every weight from memory, the
//    case batching exists for), at concurrency 32.
// Beside them, the recognizer's in-process inference time per line at batch 1, 2, 4, 8 and 16 (the same
// backend, no HTTP): what merging can save at best. Requests use the binary tensor extension so JSON cost
// does not hide the effect. The worker runs on one core and the load generator on another where the machine
// allows (as in bench:worker).
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Pool } from 'undici'
import { DEFAULT_MODELS_DIR } from '../dist/models/default-model-repository.js'
import { buildMlpModel, MLP_DIMS } from '../dist/models/mlp-model.js'
import {
  alternatingRounds,
  binaryRequest,
  cpusAllowed,
  fmt,
  loadAverage,
  machine,
  measure,
  pinnedCores,
  pinSelf,
  poster,
  ratioOfRounds,
  smoke,
  startInProcess,
  startWorker,
  verdict,
  waitReady,
  writeResult,
} from './lib.mjs'

const rounds = smoke ? 1 : 3
const roundSeconds = smoke ? 0.4 : 5
const WIDE = { input: 1024, hidden: 4096, output: 1024 }
const REC_SHAPE = [1, 3, 48, 320]
const common = 'devices: [CPU]\ninstances: 2\nthreads: 1\nqueue: { max_queued: 256 }\n'
const batching = (rows) => `batching: { max_batch_size: ${rows}, max_queue_delay_us: 2000 }\n`

const repo = mkdtempSync(join(tmpdir(), 'npu-bench-batching-'))
function addModel(name, onnx, yaml) {
  mkdirSync(join(repo, name, '1'), { recursive: true })
  writeFileSync(join(repo, name, '1', 'model.onnx'), onnx)
  writeFileSync(join(repo, name, 'model.yaml'), yaml)
}
const mlp = buildMlpModel()
const wide = buildMlpModel(7, WIDE)
const recPath = join(DEFAULT_MODELS_DIR, 'ppocr-rec', '1', 'model.onnx')
addModel('mlp', mlp, common)
addModel('mlp-batched', mlp, common + batching(32))
addModel('wide', wide, common)
addModel('wide-batched', wide, common + batching(32))
for (const name of ['ppocr-rec', 'ppocr-rec-batched']) {
  mkdirSync(join(repo, name, '1'), { recursive: true })
  copyFileSync(recPath, join(repo, name, '1', 'model.onnx'))
}
writeFileSync(join(repo, 'ppocr-rec', 'model.yaml'), common)
writeFileSync(join(repo, 'ppocr-rec-batched', 'model.yaml'), common + batching(16))
// A line crop as the OCR pipeline sends it: normalised to [-1, 1].
const line = Float32Array.from({ length: 3 * 48 * 320 }, (_, i) => ((i * 7919) % 255) / 127.5 - 1)

const pin = pinnedCores()
const server = pin.cores?.server
if (pin.cores) pinSelf(pin.cores.client)
const loadAtStart = loadAverage()

// What merging can save at best: the recognizer's own time per line at each batch size, in-process.
const batchRows = smoke ? [1, 4] : [1, 2, 4, 8, 16]
const perLine = []
const runner = await startInProcess(
  { name: 'ppocr-rec', modelPath: recPath, instances: 1, input: 'x', shape: REC_SHAPE, data: line },
  server,
)
try {
  for (const rows of batchRows) {
    const result = await runner.measure(smoke ? 0.3 : 3, { concurrency: 1, rows })
    perLine.push({ rows, ms: 1000 / result.opsPerSec / rows })
  }
} finally {
  await runner.close()
}

const { child, url } = await startWorker(['--models-dir', repo], {}, { cpu: server })
const cpus = `worker \`${cpusAllowed(child.pid)}\`, load generator \`${cpusAllowed(process.pid)}\``
const client = new Pool(url, { connections: 32 })
const figures = [
  {
    label: '`ppocr-rec` PP-OCRv4 recognizer, 1×3×48×320 line crops (10.8 MB weights)',
    name: 'ppocr-rec',
    input: 'x',
    shape: REC_SHAPE,
    data: line,
    concurrency: 16,
    rows: 16,
    goal: 2,
  },
  {
    label: '`mlp` 384→256→16 (0.4 MB weights)',
    name: 'mlp',
    input: 'input',
    shape: [1, MLP_DIMS.input],
    concurrency: 32,
    rows: 32,
    goal: null,
  },
  {
    label: '`wide` 1024→4096→1024 (34 MB weights)',
    name: 'wide',
    input: 'input',
    shape: [1, WIDE.input],
    concurrency: 32,
    rows: 32,
    goal: null,
  },
]
try {
  await waitReady(url)
  for (const f of figures) {
    const width = f.shape.at(-1)
    const data = f.data ?? Float32Array.from({ length: width }, (_, i) => Math.sin(i))
    const side = (name) => {
      const post = poster(client, `/v2/models/${name}/infer`, binaryRequest(f.input, f.shape, data))
      return (secs) => measure(post, f.concurrency, secs)
    }
    const [plain, batched] = await alternatingRounds(
      [side(f.name), side(`${f.name}-batched`)],
      rounds,
      roundSeconds,
    )
    f.result = ratioOfRounds(batched, plain)
  }
} finally {
  await client.close()
  child.kill('SIGTERM')
  rmSync(repo, { recursive: true, force: true })
}

const spread = (p) => `rounds ${p.ratios.map((r) => fmt(r, 2)).join(', ')}`
const row = (f) => {
  const { ratio, base, side } = f.result
  const goal = f.goal ? `≥ ${f.goal}×: ${verdict(ratio >= f.goal)}` : 'reported'
  return `| ${f.label} | ${f.concurrency} | ${fmt(base.opsPerSec, 0)} (p99 ${fmt(base.p99, 1)} ms) | ${fmt(side.opsPerSec, 0)} (p99 ${fmt(side.p99, 1)} ms, max batch ${f.rows}) | ${fmt(ratio, 2)}× (${spread(f.result)}) | ${goal} |`
}
writeResult('batching', [
  `### Dynamic batching (${smoke ? 'SMOKE RUN: figures meaningless' : `${rounds} alternating rounds of ${roundSeconds} s per side`})`,
  '',
  `Command: \`pnpm --filter @npu-fleet/worker bench:batching\`. ${machine()}. One worker, ONNX Runtime 2 instances × 1 thread, binary tensors; batched = \`batching: { max_batch_size: N, max_queue_delay_us: 2000 }\`. ${pin.cores ? `Pinned (Cpus_allowed_list: ${cpus})` : `Not pinned (${pin.reason})`}; load average ${loadAtStart} at start, ${loadAverage()} at end.`,
  '',
  '| model | concurrency | unbatched req/s | batched req/s | batched ÷ unbatched, median of rounds | target |',
  '| --- | --- | --- | --- | --- | --- |',
  ...figures.map(row),
  '',
  `The recognizer's own time per line, in-process (same backend, one thread, no HTTP), by batch size: ${perLine.map((p) => `${p.rows}: ${fmt(p.ms, 2)} ms`).join(', ')}. Batching can gain at most batch-1 time ÷ batch-N time per line.`,
  '',
])
process.exit(0)
