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
import { COMPILED_THREAD_ENTRIES } from '../dist/threads/thread-entries.js'
import { binaryRequest, fmt, measure, percentile, verdict } from './lib.mjs'

process.env.ORT_DISABLE_TELEMETRY ??= '1'
const smoke = process.argv.includes('--smoke')
const seconds = smoke ? 0.4 : 6
const concurrency = 8
const here = dirname(fileURLToPath(import.meta.url))

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

/** Loads `name` in this process through the same backend and settings the worker uses; measure() runs it. */
async function inProcess(name) {
  const m = models[name]
  const backend = new OnnxRuntimeBackend({ threadEntry: COMPILED_THREAD_ENTRIES.onnxruntime })
  const loaded = await backend.load({
    name,
    version: '1',
    modelPath: join(DEFAULT_MODELS_DIR, name, '1', 'model.onnx'),
    device: 'CPU',
    threads: 1,
    instances: m.instances,
    performanceHint: 'LATENCY',
    cacheDir: null,
    inferTimeoutMs: 60_000,
  })
  const data = m.data()
  return {
    measure: (secs) =>
      measure(
        () => loaded.infer({ [m.input]: { datatype: 'FP32', shape: m.shape, data: data.slice() } }),
        concurrency,
        secs,
      ),
    close: async () => {
      await loaded.unload()
      await backend.close()
    },
  }
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

async function served(client, name, secs = seconds) {
  const m = models[name]
  const body = JSON.stringify({
    inputs: [{ name: m.input, datatype: 'FP32', shape: m.shape, data: Array.from(m.data()) }],
  })
  return measure(
    async () => {
      const res = await client.request({
        method: 'POST',
        path: `/v2/models/${name}/infer`,
        headers: { 'content-type': 'application/json' },
        body,
      })
      if (res.statusCode !== 200) throw new Error(`${name}: HTTP ${res.statusCode} ${await res.body.text()}`)
      await res.body.dump()
    },
    concurrency,
    secs,
  )
}

async function servedBinary(client, name, secs = seconds) {
  const m = models[name]
  const request = binaryRequest(m.input, m.shape, m.data())
  return measure(
    async () => {
      const res = await client.request({ method: 'POST', path: `/v2/models/${name}/infer`, ...request })
      if (res.statusCode !== 200) throw new Error(`${name}: HTTP ${res.statusCode} ${await res.body.text()}`)
      await res.body.dump()
    },
    concurrency,
    secs,
  )
}

/** A Fastify server answering the same JSON POST with nothing behind it: the floor any route is compared with. */
async function emptyRouteFloor() {
  const app = Fastify({ logger: false })
  app.post('/echo', async (request) => ({ received: Array.isArray(request.body?.inputs) }))
  await app.listen({ host: '127.0.0.1', port: 0 })
  const client = new Pool(`http://127.0.0.1:${app.server.address().port}`, { connections: concurrency })
  const m = models.mlp
  const body = JSON.stringify({
    inputs: [{ name: m.input, datatype: 'FP32', shape: m.shape, data: Array.from(m.data()) }],
  })
  return {
    measure: (secs) =>
      measure(
        async () => {
          const res = await client.request({
            method: 'POST',
            path: '/echo',
            headers: { 'content-type': 'application/json' },
            body,
          })
          await res.body.dump()
        },
        concurrency,
        secs,
      ),
    close: async () => {
      await client.close()
      await app.close()
    },
  }
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

// Paired rounds: each ratio is measured as two back-to-back halves, alternating which side goes first, and
// the figure is the median over rounds (their spread shows how noisy the shared machine was).
const rounds = smoke ? 1 : 5
const roundSeconds = smoke ? 0.4 : 3
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]

async function paired(first, second) {
  const ratios = []
  const a = []
  const b = []
  for (let r = 0; r < rounds; r++) {
    let x
    let y
    if (r % 2 === 0) {
      x = await first(roundSeconds)
      y = await second(roundSeconds)
    } else {
      y = await second(roundSeconds)
      x = await first(roundSeconds)
    }
    a.push(x)
    b.push(y)
    ratios.push(y.opsPerSec / x.opsPerSec)
  }
  const mid = (list) => list.find((r) => r.opsPerSec === median(list.map((q) => q.opsPerSec)))
  return { ratio: median(ratios), ratios, first: mid(a), second: mid(b) }
}

const out = {}
const floor = await emptyRouteFloor()
const mlpIn = await inProcess('mlp')
const detIn = await inProcess('ppocr-det')
const { child, url } = await startWorker()
const client = new Pool(url, { connections: concurrency })
client.origin = url
try {
  await waitReady(client)
  out.mlpJson = await paired(mlpIn.measure, (secs) => served(client, 'mlp', secs))
  out.mlpBin = await paired(mlpIn.measure, (secs) => servedBinary(client, 'mlp', secs))
  out.detJson = await paired(detIn.measure, (secs) => served(client, 'ppocr-det', secs))
  out.detBin = await paired(detIn.measure, (secs) => servedBinary(client, 'ppocr-det', secs))
  out.floor = await paired(floor.measure, (secs) => served(client, 'mlp', secs))
  out.health = await healthUnderSaturation(client, 'json')
  out.healthBinary = await healthUnderSaturation(client, 'binary')
} finally {
  await client.close()
  child.kill('SIGTERM')
  await Promise.all([floor.close(), mlpIn.close(), detIn.close()])
}

const spread = (p) => `rounds ${p.ratios.map((r) => fmt(r, 2)).join(', ')}`
const row = (label, p, digits, target) =>
  `| ${label} | ${fmt(p.first.opsPerSec, digits)} | ${fmt(p.second.opsPerSec, digits)} (p50 ${fmt(p.second.p50, 2)} ms, p99 ${fmt(p.second.p99, 2)} ms) | ${fmt(p.ratio, 2)}× (${spread(p)}) | ${target ? `≥ ${target}×: ${verdict(p.ratio >= target)}` : '—'} |`
const lines = [
  `### Worker serving overhead (${smoke ? 'SMOKE RUN: tiny counts, figures meaningless' : `${rounds} paired rounds of ${roundSeconds} s per side`}, concurrency ${concurrency})`,
  '',
  `Command: \`pnpm bench:worker\`. ${os.cpus().length} cores (${os.cpus()[0]?.model}), Node ${process.version}. Both sides use ONNX Runtime on worker threads (2 instances × 1 thread).`,
  '',
  '| figure | in-process (median round) | served over HTTP (median round) | served ÷ in-process, median of rounds | target |',
  '| --- | --- | --- | --- | --- |',
  row('MLP 1×384, JSON tensors (req/s)', out.mlpJson, 0),
  row('MLP 1×384, binary tensors (req/s)', out.mlpBin, 0),
  row('PP-OCRv4 det 1×3×320×320, JSON tensors (req/s)', out.detJson, 1, 0.9),
  row('PP-OCRv4 det 1×3×320×320, binary tensors (req/s)', out.detBin, 1, 0.9),
  `| MLP served (JSON) ÷ Fastify empty-route floor, same JSON body (req/s) | floor ${fmt(out.floor.first.opsPerSec, 0)} | ${fmt(out.floor.second.opsPerSec, 0)} | ${fmt(out.floor.ratio, 2)}× (${spread(out.floor)}) | ≥ 0.6×: ${verdict(out.floor.ratio >= 0.6)} |`,
  `| \`/health\` while the detector saturates the cores (JSON requests) | — | p50 ${fmt(out.health.p50, 2)} ms, p99 ${fmt(out.health.p99, 2)} ms (${out.health.count} probes) | — | p99 ≤ 20 ms: ${verdict(out.health.p99 <= 20)} |`,
  `| \`/health\` while the detector saturates the cores (binary requests) | — | p50 ${fmt(out.healthBinary.p50, 2)} ms, p99 ${fmt(out.healthBinary.p99, 2)} ms (${out.healthBinary.count} probes) | — | p99 ≤ 20 ms: ${verdict(out.healthBinary.p99 <= 20)} |`,
  '',
]
const text = lines.join('\n')
console.log(text)
mkdirSync(join(here, 'results'), { recursive: true })
writeFileSync(join(here, 'results', smoke ? 'worker.smoke.md' : 'worker.md'), text)
process.exit(0)
