// Ad-hoc A/B of a model's ONNX Runtime instances on demand (backends/onnxruntime.ts), not part of `pnpm bench`:
// `always` (instance_idle_timeout_ms: never, every instance at load) against `on demand` (the first at load, the
// others when a request would wait, retired after IDLE_MS idle). Same two models as the peers bench (the MLP and
// the PP-OCRv4 detector, 2 instances each), a fresh worker per side and round, sides alternating ABAB.., the
// worker pinned to the last core and this load generator to core 0. Per round: RSS idle, the first detector
// burst (its throughput, p99 and CPU per request: what starting late costs), RSS right after it, and RSS once
// the on-demand side's extra instances retired. Run: node apps/npu-worker/bench/instances-ab.mjs [--smoke]
// (env ROUNDS, BURST_SECONDS, CONCURRENCIES=2,4 change the run's size).
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Pool } from 'undici'
import { DEFAULT_MODELS_DIR } from '../dist/models/default-model-repository.js'
import {
  fmt,
  jsonRequest,
  loadAverage,
  machine,
  measure,
  median,
  memoryMiB,
  pinnedCores,
  pinSelf,
  poster,
  smoke,
  startWorker,
  waitReady,
  withCpu,
} from './lib.mjs'

const IDLE_MS = 3_000
const rounds = smoke ? 1 : Number(process.env.ROUNDS ?? 3)
const burstSeconds = smoke ? 0.5 : Number(process.env.BURST_SECONDS ?? 3)
const concurrencies = smoke ? [2] : (process.env.CONCURRENCIES ?? '2,4').split(',').map(Number)
const SIDES = [
  { label: 'always', idle: 'never' },
  { label: 'on demand', idle: String(IDLE_MS) },
]
const det = {
  path: '/v2/models/ppocr-det/infer',
  request: jsonRequest(
    'x',
    [1, 3, 320, 320],
    Float32Array.from({ length: 3 * 320 * 320 }, (_, i) => ((i * 7919) % 255) / 255 - 0.5),
  ),
}

const { cores } = pinnedCores()
if (cores) pinSelf(cores.client)
const modelsDir = mkdtempSync(join(tmpdir(), 'npu-bench-instances-'))
for (const name of ['mlp', 'ppocr-det']) {
  mkdirSync(join(modelsDir, name, '1'), { recursive: true })
  copyFileSync(join(DEFAULT_MODELS_DIR, name, 'model.yaml'), join(modelsDir, name, 'model.yaml'))
  copyFileSync(join(DEFAULT_MODELS_DIR, name, '1', 'model.onnx'), join(modelsDir, name, '1', 'model.onnx'))
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** One fresh worker: RSS idle, the first burst at `concurrency`, RSS after, RSS after the idle timeout. */
async function round(side, concurrency) {
  const { child, url } = await startWorker(
    ['--models-dir', modelsDir],
    { NPU_WORKER_DEFAULT_INSTANCE_IDLE_TIMEOUT_MS: side.idle, NPU_WORKER_SELF_TEST_INTERVAL_SECONDS: '0' },
    { cpu: cores?.server },
  )
  try {
    await waitReady(url)
    await sleep(smoke ? 100 : 1_500)
    const idle = await memoryMiB(child.pid)
    const client = new Pool(url, { connections: concurrency })
    const burst = await withCpu(child.pid, () =>
      measure(poster(client, det.path, det.request), concurrency, burstSeconds),
    )
    const after = await memoryMiB(child.pid)
    const health = await (await fetch(`${url}/health`)).json()
    const instances = health.models.find((m) => m.name === 'ppocr-det')?.parallelism?.instances
    await sleep(smoke ? 200 : IDLE_MS + 2_500)
    const retired = await memoryMiB(child.pid)
    const health2 = await (await fetch(`${url}/health`)).json()
    const instances2 = health2.models.find((m) => m.name === 'ppocr-det')?.parallelism?.instances
    await client.close()
    return {
      idle: idle.rss,
      after: after.rss,
      retired: retired.rss,
      opsPerSec: burst.opsPerSec,
      p99: burst.p99,
      cpuMsPerReq: (burst.cpuSeconds * 1000) / Math.max(1, burst.count),
      runningAfter: instances?.running ?? null,
      runningRetired: instances2?.running ?? null,
    }
  } finally {
    child.kill('SIGTERM')
    await new Promise((r) => child.once('exit', r))
  }
}

const lines = [
  `### ONNX Runtime instances on demand vs always on (${smoke ? 'SMOKE' : `${rounds} alternating rounds per concurrency`})`,
  '',
  `${machine()}. Load average at start ${loadAverage()}. Worker pinned to ${cores?.server ?? 'any'}, client ${cores?.client ?? 'any'}. MLP + PP-OCRv4 det, 2 instances each; on demand: idle timeout ${IDLE_MS} ms. Detector 1x3x320x320 JSON, first burst ${burstSeconds} s on a fresh worker.`,
  '',
  '| concurrency | figure | always | on demand | on demand ÷ always (median of rounds) | rounds |',
  '| --- | --- | --- | --- | --- | --- |',
]
try {
  for (const concurrency of concurrencies) {
    const results = { always: [], 'on demand': [] }
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? SIDES : [...SIDES].reverse()
      for (const side of order) results[side.label].push(await round(side, concurrency))
    }
    console.error(JSON.stringify({ concurrency, results }))
    for (const [figure, key, digits] of [
      ['RSS idle (MiB)', 'idle', 0],
      ['RSS after the first burst (MiB)', 'after', 0],
      [`RSS ${(IDLE_MS + 2_500) / 1000} s after it (MiB)`, 'retired', 0],
      ['first burst req/s', 'opsPerSec', 1],
      ['first burst p99 (ms)', 'p99', 1],
      ['CPU per request (ms)', 'cpuMsPerReq', 1],
    ]) {
      const a = results.always.map((x) => x[key])
      const b = results['on demand'].map((x) => x[key])
      const ratios = a.map((v, i) => b[i] / v)
      lines.push(
        `| ${concurrency} | ${figure} | ${fmt(median(a), digits)} | ${fmt(median(b), digits)} | ${fmt(median(ratios), 3)} | ${ratios.map((x) => fmt(x, 2)).join(', ')} |`,
      )
    }
    const running = results['on demand'].map((x) => `${x.runningAfter}→${x.runningRetired}`).join(', ')
    lines.push(
      `| ${concurrency} | detector instances running after the burst → after the timeout (on demand) | | ${running} | | |`,
    )
  }
} finally {
  rmSync(modelsDir, { recursive: true, force: true })
}
lines.push('', `Load average at end ${loadAverage()}.`)
console.log(lines.join('\n'))
