#!/usr/bin/env node
// `pnpm --filter @npu-fleet/worker bench:batching`: dynamic batching, batched ÷ unbatched throughput at
// concurrency 32, served over HTTP by one real worker holding both variants of each generated model:
//  - `mlp`  (384→256→16, 0.4 MB of weights: compute is tiny, HTTP dominates);
//  - `wide` (1024→4096→1024, 34 MB of weights: a batch-1 inference streams every weight from memory, the
//    case batching exists for).
// Requests use the binary tensor extension so JSON cost does not hide the effect.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Pool } from 'undici'
import { buildMlpModel, MLP_DIMS } from '../dist/models/mlp-model.js'
import {
  binaryRequest,
  fmt,
  machine,
  measure,
  smoke,
  startWorker,
  verdict,
  waitReady,
  writeResult,
} from './lib.mjs'

const seconds = smoke ? 0.4 : 8
const concurrency = 32
const WIDE = { input: 1024, hidden: 4096, output: 1024 }
const batching = 'batching: { max_batch_size: 32, max_queue_delay_us: 2000 }\n'
const common = 'devices: [CPU]\ninstances: 2\nthreads: 1\nqueue: { max_queued: 256 }\n'

const repo = mkdtempSync(join(tmpdir(), 'npu-bench-batching-'))
function addModel(name, onnx, yaml) {
  mkdirSync(join(repo, name, '1'), { recursive: true })
  writeFileSync(join(repo, name, '1', 'model.onnx'), onnx)
  writeFileSync(join(repo, name, 'model.yaml'), yaml)
}
const mlp = buildMlpModel()
const wide = buildMlpModel(7, WIDE)
addModel('mlp', mlp, common)
addModel('mlp-batched', mlp, common + batching)
addModel('wide', wide, common)
addModel('wide-batched', wide, common + batching)

const { child, url } = await startWorker(['--models-dir', repo])
const client = new Pool(url, { connections: concurrency })
const results = {}
try {
  await waitReady(url)
  for (const [name, width] of [
    ['mlp', MLP_DIMS.input],
    ['mlp-batched', MLP_DIMS.input],
    ['wide', WIDE.input],
    ['wide-batched', WIDE.input],
  ]) {
    const request = binaryRequest(
      'input',
      [1, width],
      Float32Array.from({ length: width }, (_, i) => Math.sin(i)),
    )
    results[name] = await measure(
      async () => {
        const res = await client.request({ method: 'POST', path: `/v2/models/${name}/infer`, ...request })
        if (res.statusCode !== 200)
          throw new Error(`${name}: HTTP ${res.statusCode} ${await res.body.text()}`)
        await res.body.dump()
      },
      concurrency,
      seconds,
    )
  }
} finally {
  await client.close()
  child.kill('SIGTERM')
  rmSync(repo, { recursive: true, force: true })
}

const row = (label, plain, batched) => {
  const ratio = batched.opsPerSec / plain.opsPerSec
  return `| ${label} | ${fmt(plain.opsPerSec, 0)} (p99 ${fmt(plain.p99, 1)} ms) | ${fmt(batched.opsPerSec, 0)} (p99 ${fmt(batched.p99, 1)} ms) | ${fmt(ratio, 2)}× | ≥ 3×: ${verdict(ratio >= 3)} |`
}
writeResult('batching', [
  `### Dynamic batching (${smoke ? 'SMOKE RUN: figures meaningless' : `${seconds} s per figure`}, concurrency ${concurrency})`,
  '',
  `Command: \`pnpm --filter @npu-fleet/worker bench:batching\`. ${machine()}. One worker, ONNX Runtime 2 instances × 1 thread, binary tensors; batched = \`batching: { max_batch_size: 32, max_queue_delay_us: 2000 }\`.`,
  '',
  '| generated model | unbatched req/s | batched req/s | batched ÷ unbatched | target |',
  '| --- | --- | --- | --- | --- |',
  row('`mlp` 384→256→16 (0.4 MB weights)', results.mlp, results['mlp-batched']),
  row('`wide` 1024→4096→1024 (34 MB weights)', results.wide, results['wide-batched']),
  '',
])
process.exit(0)
