#!/usr/bin/env node
// `pnpm --filter @npu-fleet/worker bench:binary`: end-to-end request time of one 1×3×640×640 FP32 image
// through the PP-OCR detector (output 1×1×640×640 FP32), JSON tensors ÷ the KServe binary tensor extension,
// one request at a time against one real worker (client encode + HTTP + server decode + inference + encode
// + client decode all counted: what a caller waits for).
import { Pool } from 'undici'
import {
  binaryRequest,
  fmt,
  jsonRequest,
  machine,
  percentile,
  smoke,
  startWorker,
  verdict,
  waitReady,
  writeResult,
} from './lib.mjs'

const rounds = smoke ? 2 : 30
const shape = [1, 3, 640, 640]
const image = Float32Array.from({ length: 3 * 640 * 640 }, (_, i) => ((i * 7919) % 255) / 255 - 0.5)
const { child, url } = await startWorker()
const client = new Pool(url, { connections: 1 })

async function timeRequests(encode, decode) {
  const times = []
  for (let i = 0; i < rounds + 2; i++) {
    const t0 = performance.now()
    const request = encode()
    const res = await client.request({ method: 'POST', path: '/v2/models/ppocr-det/infer', ...request })
    if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode}: ${await res.body.text()}`)
    decode(Buffer.from(await res.body.arrayBuffer()), res.headers)
    if (i >= 2) times.push(performance.now() - t0) // two warm-up rounds
  }
  return times.sort((a, b) => a - b)
}

let json
let binary
try {
  await waitReady(url)
  json = await timeRequests(
    () => jsonRequest('x', shape, image),
    (body) => Float32Array.from(JSON.parse(body.toString()).outputs[0].data),
  )
  binary = await timeRequests(
    () => binaryRequest('x', shape, image),
    (body, headers) => {
      const at = Number(headers['inference-header-content-length'])
      JSON.parse(body.subarray(0, at).toString())
      return new Float32Array(body.buffer.slice(body.byteOffset + at, body.byteOffset + body.length))
    },
  )
} finally {
  await client.close()
  child.kill('SIGTERM')
}
const ratio = percentile(json, 50) / percentile(binary, 50)
writeResult('binary', [
  `### JSON ÷ binary tensors (${smoke ? 'SMOKE RUN: figures meaningless' : `${rounds} requests each`})`,
  '',
  `Command: \`pnpm --filter @npu-fleet/worker bench:binary\`. ${machine()}. PP-OCRv4 detector, input 1×3×640×640 FP32 (4.9 MB raw), output 1×1×640×640 FP32; one request at a time; client encode/decode included.`,
  '',
  '| form | p50 request time | p99 | ratio | target |',
  '| --- | --- | --- | --- | --- |',
  `| JSON tensors | ${fmt(percentile(json, 50))} ms | ${fmt(percentile(json, 99))} ms | JSON ÷ binary: ${fmt(ratio, 2)}× | ≥ 5×: ${verdict(ratio >= 5)} |`,
  `| binary tensor extension | ${fmt(percentile(binary, 50))} ms | ${fmt(percentile(binary, 99))} ms | | |`,
  '',
])
process.exit(0)
