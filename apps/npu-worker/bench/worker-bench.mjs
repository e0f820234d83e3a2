#!/usr/bin/env node
// `pnpm bench:worker`: in one run, on this machine, side by side:
//  - the MLP and the PP-OCR detector: in-process throughput through the same ONNX Runtime backend (worker
//    threads, same settings) against throughput served over HTTP at concurrency 8;
//  - /health latency while inference saturates the cores;
//  - a Fastify empty-route floor (JSON POST echo of the same body).
// Writes bench/results/worker.md. `--smoke` runs tiny counts (CI) and only proves the suite still works.
import { spawn } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import Fastify from 'fastify'
import { Pool } from 'undici'
import { OnnxRuntimeBackend } from '../dist/backends/onnxruntime.js'
import { DEFAULT_MODELS_DIR } from '../dist/models/default-model-repository.js'
import { binaryRequest } from './lib.mjs'

process.env.ORT_DISABLE_TELEMETRY ??= '1'
const smoke = process.argv.includes('--smoke')
const seconds = smoke ? 0.4 : 6
const concurrency = 8
const here = dirname(fileURLToPath(import.meta.url))

const percentile = (sorted, p) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN

/** Runs `task` with `workers` concurrent loops for `seconds`; returns ops/s and latencies (ms). */
async function measure(task, workers, secs = seconds) {
  const latencies = []
  const end = performance.now() + secs * 1000
  let ops = 0
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (performance.now() < end) {
        const t0 = performance.now()
        await task()
        latencies.push(performance.now() - t0)
        ops++
      }
    }),
  )
  latencies.sort((a, b) => a - b)
  return { opsPerSec: ops / secs, p50: percentile(latencies, 50), p99: percentile(latencies, 99) }
}

const models = {
  mlp: {
    input: 'input',
    shape: [1, 384],
    instances: 2,
    data: () => Float32Array.from({ length: 384 }, (_, i) => Math.sin(i)),
  },
  'ppocr-det': {
    input: 'x',
    shape: [1, 3, 320, 320],
    instances: 2,
    data: () => Float32Array.from({ length: 3 * 320 * 320 }, (_, i) => ((i * 7919) % 255) / 255 - 0.5),
  },
}

async function inProcess(name) {
  const m = models[name]
  const backend = new OnnxRuntimeBackend()
  const loaded = await backend.load({
    name,
    version: '1',
    modelPath: join(DEFAULT_MODELS_DIR, name, '1', 'model.onnx'),
    device: 'CPU',
    threads: 1,
    instances: m.instances,
    performanceHint: 'LATENCY',
    cacheDir: null,
  })
  const data = m.data()
  const result = await measure(
    () => loaded.infer({ [m.input]: { datatype: 'FP32', shape: m.shape, data: data.slice() } }),
    concurrency,
  )
  await loaded.unload()
  await backend.close()
  return result
}

function startWorker() {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [join(here, '..', 'dist', 'server.js'), '--host', '127.0.0.1', '--port', '0'],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    )
    let buffered = ''
    child.stdout.on('data', (chunk) => {
      buffered += chunk
      for (const line of buffered.split('\n')) {
        try {
          const entry = JSON.parse(line)
          if (entry.msg === 'listening') resolve({ child, url: `http://127.0.0.1:${entry.port}` })
        } catch {}
      }
    })
    child.on('exit', (code) => reject(new Error(`worker exited ${code}`)))
  })
}

async function waitReady(client) {
  for (let i = 0; i < 600; i++) {
    const res = await client.request({ method: 'GET', path: '/health' })
    await res.body.dump()
    if (res.statusCode === 200) return
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error('worker not ready')
}

async function served(client, name) {
  const m = models[name]
  const body = JSON.stringify({
    inputs: [{ name: m.input, datatype: 'FP32', shape: m.shape, data: Array.from(m.data()) }],
  })
  return measure(async () => {
    const res = await client.request({
      method: 'POST',
      path: `/v2/models/${name}/infer`,
      headers: { 'content-type': 'application/json' },
      body,
    })
    if (res.statusCode !== 200) throw new Error(`${name}: HTTP ${res.statusCode} ${await res.body.text()}`)
    await res.body.dump()
  }, concurrency)
}

async function servedBinary(client, name) {
  const m = models[name]
  const request = binaryRequest(m.input, m.shape, m.data())
  return measure(async () => {
    const res = await client.request({ method: 'POST', path: `/v2/models/${name}/infer`, ...request })
    if (res.statusCode !== 200) throw new Error(`${name}: HTTP ${res.statusCode} ${await res.body.text()}`)
    await res.body.dump()
  }, concurrency)
}

async function emptyRouteFloor() {
  const app = Fastify({ logger: false })
  app.post('/echo', async (request) => ({ received: Array.isArray(request.body?.inputs) }))
  await app.listen({ host: '127.0.0.1', port: 0 })
  const client = new Pool(`http://127.0.0.1:${app.server.address().port}`, { connections: concurrency })
  const m = models.mlp
  const body = JSON.stringify({
    inputs: [{ name: m.input, datatype: 'FP32', shape: m.shape, data: Array.from(m.data()) }],
  })
  const result = await measure(async () => {
    const res = await client.request({
      method: 'POST',
      path: '/echo',
      headers: { 'content-type': 'application/json' },
      body,
    })
    await res.body.dump()
  }, concurrency)
  await client.close()
  await app.close()
  return result
}

async function healthUnderSaturation(client, form) {
  const m = models['ppocr-det']
  const request =
    form === 'binary'
      ? binaryRequest(m.input, m.shape, m.data())
      : {
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            inputs: [{ name: m.input, datatype: 'FP32', shape: m.shape, data: Array.from(m.data()) }],
          }),
        }
  let stop = false
  const saturate = Array.from({ length: concurrency }, async () => {
    while (!stop) {
      const res = await client.request({ method: 'POST', path: '/v2/models/ppocr-det/infer', ...request })
      await res.body.dump()
    }
  })
  await new Promise((r) => setTimeout(r, smoke ? 100 : 1000))
  const probe = new Pool(client.origin, { connections: 1 })
  // One probe every 20 ms, as a monitor would; only the request itself is timed.
  const latencies = []
  const end = performance.now() + seconds * 1000
  while (performance.now() < end) {
    const t0 = performance.now()
    const res = await probe.request({ method: 'GET', path: '/health' })
    await res.body.dump()
    latencies.push(performance.now() - t0)
    await new Promise((r) => setTimeout(r, 20))
  }
  latencies.sort((a, b) => a - b)
  const result = { p50: percentile(latencies, 50), p99: percentile(latencies, 99), count: latencies.length }
  stop = true
  await Promise.all(saturate)
  await probe.close()
  return result
}

const fmt = (n, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : 'n/a')
const verdict = (ok) => (ok ? 'met' : '**missed**')

const out = {}
out.floor = await emptyRouteFloor()
out.mlpIn = await inProcess('mlp')
out.detIn = await inProcess('ppocr-det')
const { child, url } = await startWorker()
const client = new Pool(url, { connections: concurrency })
client.origin = url
try {
  await waitReady(client)
  out.mlpServed = await served(client, 'mlp')
  out.detServed = await served(client, 'ppocr-det')
  out.mlpBinary = await servedBinary(client, 'mlp')
  out.detBinary = await servedBinary(client, 'ppocr-det')
  out.health = await healthUnderSaturation(client, 'json')
  out.healthBinary = await healthUnderSaturation(client, 'binary')
} finally {
  await client.close()
  child.kill('SIGTERM')
}

const detRatio = out.detServed.opsPerSec / out.detIn.opsPerSec
const detBinaryRatio = out.detBinary.opsPerSec / out.detIn.opsPerSec
const mlpFloorRatio = out.mlpServed.opsPerSec / out.floor.opsPerSec
const lines = [
  `### Worker serving overhead (${smoke ? 'SMOKE RUN: tiny counts, figures meaningless' : `${seconds} s per figure`}, concurrency ${concurrency})`,
  '',
  `Command: \`pnpm bench:worker\`. ${os.cpus().length} cores (${os.cpus()[0]?.model}), Node ${process.version}. Both sides use ONNX Runtime on worker threads (2 instances × 1 thread).`,
  '',
  '| figure | in-process | served over HTTP (JSON tensors unless marked binary) | ratio | target |',
  '| --- | --- | --- | --- | --- |',
  `| MLP 1×384 throughput (req/s) | ${fmt(out.mlpIn.opsPerSec, 0)} | ${fmt(out.mlpServed.opsPerSec, 0)} (p50 ${fmt(out.mlpServed.p50, 2)} ms, p99 ${fmt(out.mlpServed.p99, 2)} ms) | ${fmt(out.mlpServed.opsPerSec / out.mlpIn.opsPerSec, 2)}× | — |`,
  `| PP-OCRv4 det 1×3×320×320 throughput (req/s) | ${fmt(out.detIn.opsPerSec)} | ${fmt(out.detServed.opsPerSec)} (p50 ${fmt(out.detServed.p50)} ms, p99 ${fmt(out.detServed.p99)} ms) | ${fmt(detRatio, 2)}× | ≥ 0.9×: ${verdict(detRatio >= 0.9)} |`,
  `| MLP 1×384, binary tensors (req/s) | ${fmt(out.mlpIn.opsPerSec, 0)} | ${fmt(out.mlpBinary.opsPerSec, 0)} (p50 ${fmt(out.mlpBinary.p50, 2)} ms, p99 ${fmt(out.mlpBinary.p99, 2)} ms) | ${fmt(out.mlpBinary.opsPerSec / out.mlpIn.opsPerSec, 2)}× | — |`,
  `| PP-OCRv4 det 1×3×320×320, binary tensors (req/s) | ${fmt(out.detIn.opsPerSec)} | ${fmt(out.detBinary.opsPerSec)} (p50 ${fmt(out.detBinary.p50)} ms, p99 ${fmt(out.detBinary.p99)} ms) | ${fmt(detBinaryRatio, 2)}× | ≥ 0.9×: ${verdict(detBinaryRatio >= 0.9)} |`,
  `| Fastify empty-route floor, same JSON body (req/s) | — | ${fmt(out.floor.opsPerSec, 0)} (p50 ${fmt(out.floor.p50, 2)} ms) | MLP served ÷ floor: ${fmt(mlpFloorRatio, 2)}× | ≥ 0.6×: ${verdict(mlpFloorRatio >= 0.6)} |`,
  `| \`/health\` while the detector saturates the cores (JSON requests) | — | p50 ${fmt(out.health.p50, 2)} ms, p99 ${fmt(out.health.p99, 2)} ms | — | p99 ≤ 20 ms: ${verdict(out.health.p99 <= 20)} |`,
  `| \`/health\` while the detector saturates the cores (binary requests) | — | p50 ${fmt(out.healthBinary.p50, 2)} ms, p99 ${fmt(out.healthBinary.p99, 2)} ms | — | p99 ≤ 20 ms: ${verdict(out.healthBinary.p99 <= 20)} |`,
  '',
]
const text = lines.join('\n')
console.log(text)
mkdirSync(join(here, 'results'), { recursive: true })
writeFileSync(join(here, 'results', smoke ? 'worker.smoke.md' : 'worker.md'), text)
process.exit(0)
