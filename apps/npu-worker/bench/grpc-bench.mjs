#!/usr/bin/env node
// `pnpm --filter @npu-fleet/worker bench:grpc`: throughput of the PP-OCR detector over gRPC with raw contents
// ÷ over REST with the binary tensor extension, against one real worker serving both (one model, one
// scheduler), in alternating paired rounds so drifting load on a shared machine hits both alike. Both answers
// are checked byte for byte against each other first. Client encode/decode counted, as a caller pays it.
import { readFileSync } from 'node:fs'
import { credentials, loadPackageDefinition, Metadata } from '@grpc/grpc-js'
import { loadSync } from '@grpc/proto-loader'
import { OPEN_INFERENCE_PROTO_PATH } from '@npu-fleet/protocol'
import { Pool } from 'undici'
import { binaryRequest, fmt, machine, measure, smoke, startWorker, waitReady, writeResult } from './lib.mjs'

const shape = [1, 3, 640, 640]
const concurrency = 2 // the detector's instances: every slot busy, a little queueing
const rounds = smoke ? 1 : 3
const seconds = smoke ? 1 : 6
const image = Float32Array.from({ length: 3 * 640 * 640 }, (_, i) => ((i * 7919) % 255) / 255 - 0.5)
const raw = Buffer.from(image.buffer)

const { createServer } = await import('node:net')
const grpcPort = await new Promise((resolve) => {
  const server = createServer().listen(0, '127.0.0.1', () => {
    const { port } = server.address()
    server.close(() => resolve(port))
  })
})
const { child, url } = await startWorker(['--grpc-port', String(grpcPort)])
const rest = new Pool(url, { connections: concurrency })
const definition = loadSync(OPEN_INFERENCE_PROTO_PATH, { keepCase: true, longs: String, arrays: true })
const Service = loadPackageDefinition(definition).inference.GRPCInferenceService
const grpc = new Service(`127.0.0.1:${grpcPort}`, credentials.createInsecure(), {
  'grpc.max_receive_message_length': -1,
  'grpc.max_send_message_length': -1,
})

/** One REST binary inference; resolves with the output bytes. */
async function restInfer() {
  const res = await rest.request({
    method: 'POST',
    path: '/v2/models/ppocr-det/infer',
    ...binaryRequest('x', shape, image),
  })
  const body = Buffer.from(await res.body.arrayBuffer())
  if (res.statusCode !== 200) throw new Error(`REST ${res.statusCode}: ${body.toString()}`)
  return body.subarray(Number(res.headers['inference-header-content-length']))
}

/** One gRPC inference with raw contents; resolves with the output bytes. */
function grpcInfer() {
  return new Promise((resolve, reject) => {
    grpc.ModelInfer(
      {
        model_name: 'ppocr-det',
        inputs: [{ name: 'x', datatype: 'FP32', shape }],
        raw_input_contents: [raw],
      },
      new Metadata(),
      (error, response) => (error ? reject(error) : resolve(response.raw_output_contents[0])),
    )
  })
}

/** User + system CPU seconds of a process so far (/proc/PID/stat, clock ticks of 100 Hz). */
function cpuSeconds(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100
}

async function window(task) {
  const before = cpuSeconds(child.pid)
  const result = await measure(task, concurrency, seconds)
  return { ...result, cpuMsPerRequest: ((cpuSeconds(child.pid) - before) * 1000) / Math.max(1, result.count) }
}

const results = { rest: [], grpc: [] }
try {
  await waitReady(url)
  const [viaRest, viaGrpc] = [await restInfer(), await grpcInfer()]
  if (!Buffer.from(viaGrpc).equals(viaRest)) throw new Error('gRPC and REST answered different bytes')
  for (let i = 0; i < 3; i++) await Promise.all([restInfer(), grpcInfer()]) // warm-up
  for (let round = 0; round < rounds; round++) {
    // Alternate which goes first, so neither always meets the warmer (or more loaded) machine.
    const order = round % 2 === 0 ? ['rest', 'grpc'] : ['grpc', 'rest']
    for (const kind of order) results[kind].push(await window(kind === 'rest' ? restInfer : grpcInfer))
  }
} finally {
  grpc.close()
  await rest.close()
  child.kill('SIGTERM')
}

const sum = (list, key) => list.reduce((s, r) => s + r[key], 0)
const mean = (list, key) => sum(list, key) / list.length
const ratios = results.grpc.map((g, i) => g.opsPerSec / results.rest[i].opsPerSec).sort((a, b) => a - b)
const median = ratios[Math.floor(ratios.length / 2)]
const row = (name, list) =>
  `| ${name} | ${fmt(mean(list, 'opsPerSec'), 2)} req/s | ${fmt(mean(list, 'p50'))} ms | ${fmt(mean(list, 'p99'))} ms | ${fmt(mean(list, 'cpuMsPerRequest'))} ms |`
writeResult('grpc', [
  `### gRPC ÷ REST binary throughput on the detector (${smoke ? 'SMOKE RUN: figures meaningless' : `${rounds} paired rounds of ${seconds} s`})`,
  '',
  `Command: \`pnpm --filter @npu-fleet/worker bench:grpc\`. ${machine()}. PP-OCRv4 detector, input 1×3×640×640 FP32 (4.9 MB raw), output 1×1×640×640 FP32; ${concurrency} requests in flight; one worker serving both (REST: undici Pool, binary tensor extension; gRPC: @grpc/grpc-js, raw_input_contents / raw_output_contents); answers checked equal byte for byte first; rounds alternate which goes first.`,
  '',
  '| transport | throughput | p50 | p99 | worker CPU per request |',
  '| --- | --- | --- | --- | --- |',
  row('REST, binary tensor extension', results.rest),
  row('gRPC, raw contents', results.grpc),
  '',
  `gRPC ÷ REST throughput: median of the paired rounds ${fmt(median, 2)}× (rounds: ${ratios.map((r) => fmt(r, 2)).join(', ')}).`,
  '',
])
process.exit(0)
