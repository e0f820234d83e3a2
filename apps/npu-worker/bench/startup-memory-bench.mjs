#!/usr/bin/env node
// `pnpm --filter @npu-fleet/worker bench:startup-memory`:
//  - cold start: process spawn → `/health` 200 with the default models (median of several starts);
//  - worker RSS at idle, under full load (detector + MLP saturating), and across a soak at half capacity
//    (default 5 minutes; `--soak-seconds N`): growth from the soak's first fifth to its end (soak-growth.mjs).
import { Pool } from 'undici'
import {
  binaryRequest,
  DUMP_WHOLE_BODY,
  fmt,
  machine,
  measure,
  rssMiB,
  smoke,
  startWorker,
  verdict,
  waitReady,
  writeResult,
} from './lib.mjs'
import { soakGrowth } from './soak-growth.mjs'

const arg = (name, fallback) => {
  const i = process.argv.indexOf(name)
  return i >= 0 ? Number(process.argv[i + 1]) : fallback
}
const starts = smoke ? 1 : 5
const soakSeconds = arg('--soak-seconds', smoke ? 3 : 300)
const loadSeconds = smoke ? 1 : 20

const coldStarts = []
for (let i = 0; i < starts; i++) {
  const { child, url, started } = await startWorker()
  coldStarts.push(await waitReady(url, started))
  child.kill('SIGTERM')
  await new Promise((r) => child.once('exit', r))
}
coldStarts.sort((a, b) => a - b)

const { child, url } = await startWorker()
await waitReady(url)
const client = new Pool(url, { connections: 8 })
const det = binaryRequest(
  'x',
  [1, 3, 320, 320],
  Float32Array.from({ length: 3 * 320 * 320 }, (_, i) => (i % 255) / 255),
)
const mlp = binaryRequest(
  'input',
  [1, 384],
  Float32Array.from({ length: 384 }, (_, i) => Math.sin(i)),
)
const call = async (path, request) => {
  const res = await client.request({ method: 'POST', path, ...request })
  if (res.statusCode !== 200) throw new Error(`${path}: HTTP ${res.statusCode}`)
  await res.body.dump(DUMP_WHOLE_BODY)
}
const oneOfEach = async () => {
  await call('/v2/models/ppocr-det/infer', det)
  await call('/v2/models/mlp/infer', mlp)
}

await new Promise((r) => setTimeout(r, 2000))
const idle = await rssMiB(child.pid)

// Full load: 8 closed loops; RSS sampled while it runs.
let peak = 0
const sampler = setInterval(async () => {
  peak = Math.max(peak, await rssMiB(child.pid))
}, 250)
const full = await measure(oneOfEach, 8, loadSeconds)
clearInterval(sampler)

// Soak at half the measured capacity: paced, open loop.
const pairsPerSecond = full.opsPerSec / 2
const samples = []
// The detector's running instances, polled each second beside the RSS (fetch: not the load's connections).
// Only the detector's: one of its instances is ~50 MiB (isolate, session, arena), the MLP's ~10, and at half
// capacity the MLP's second instance starts and retires every few tens of seconds, so a state that counted it
// lasted too briefly to compare (a 5-minute soak, 1-s polls: under 120 samples in any one state).
let state = null
const pollState = setInterval(async () => {
  try {
    const health = await (await fetch(`${url}/health`)).json()
    const det = health.models.find((m) => m.name === 'ppocr-det')?.parallelism?.instances?.running
    state = `ppocr-det ${det}`
  } catch {}
}, 1000)
const soakEnd = performance.now() + soakSeconds * 1000
const inFlight = new Set()
let failures = 0
let sent = 0
const soakStart = performance.now()
let nextSample = soakStart
while (performance.now() < soakEnd) {
  const due = soakStart + (sent / pairsPerSecond) * 1000
  const now = performance.now()
  if (now >= nextSample) {
    samples.push({ t: (now - soakStart) / 1000, rss: await rssMiB(child.pid), state })
    nextSample += 1000
  }
  if (now < due) {
    await new Promise((r) => setTimeout(r, Math.min(20, due - now)))
    continue
  }
  sent++
  const p = oneOfEach().catch(() => failures++)
  inFlight.add(p)
  p.finally(() => inFlight.delete(p))
}
await Promise.all(inFlight)
samples.push({ t: soakSeconds, rss: await rssMiB(child.pid), state })
clearInterval(pollState)
await client.close()
child.kill('SIGTERM')

// Growth is measured from the end of the soak's first fifth (allocators and JIT settled) to its end.
const growth = soakGrowth(samples, { from: soakSeconds / 5, window: Math.min(60, soakSeconds / 5) })
const pct = (g) => `${g >= 0 ? '+' : ''}${fmt(g * 100, 1)}%`
const { point, window, sameState } = growth
// The verdict reads growth at the same instance count (a leak), the window medians where no state lasted long
// enough; the two-sample figure reported before stays beside them.
const judged = sameState ?? window
writeResult('startup-memory', [
  `### Cold start and memory (${smoke ? 'SMOKE RUN: figures meaningless' : `soak ${soakSeconds} s`})`,
  '',
  `Command: \`pnpm --filter @npu-fleet/worker bench:startup-memory\`. ${machine()}. Default model repository (PP-OCRv4 det/rec/cls, MLP, embeddings demo), ONNX Runtime on the CPU.`,
  '',
  '| figure | value | target |',
  '| --- | --- | --- |',
  `| cold start: spawn → \`/health\` 200 (median of ${starts}) | ${fmt(coldStarts[Math.floor(starts / 2)], 0)} ms (min ${fmt(coldStarts[0], 0)}, max ${fmt(coldStarts.at(-1), 0)}) | reported |`,
  `| RSS at idle | ${fmt(idle, 0)} MiB | reported |`,
  `| RSS under full load (peak; ${fmt(full.opsPerSec, 1)} det+MLP pairs/s) | ${fmt(peak, 0)} MiB | reported |`,
  `| RSS across the soak at half capacity (${fmt(pairsPerSecond, 1)} pairs/s, ${sent} pairs, ${failures} failed), at the same instances (${sameState ? `${sameState.state}: median of ${fmt(sameState.from.median, 0)} MiB from ${fmt(sameState.from.t, 0)} s → ${fmt(sameState.to.median, 0)} MiB from ${fmt(sameState.to.t, 0)} s, ${sameState.samples} 1-s samples in that state` : 'no state lasted long enough: the window medians'}) | ${pct(judged.growth)} | growth ≤ 5%: ${verdict(judged.growth <= 0.05)} |`,
  `| the same, median of the ${fmt(Math.min(60, soakSeconds / 5), 0)} s from ${fmt(point.from.t, 0)} s (${window.from.state}) → median of the last ones (${window.to.state}) | ${fmt(window.from.median, 0)} → ${fmt(window.to.median, 0)} MiB: ${pct(window.growth)}; slope ${fmt(growth.slope, 2)} MiB/min | reported |`,
  `| the same, one 1-s sample at each end (the figure reported before) | ${fmt(point.from.rss, 0)} MiB at ${fmt(point.from.t, 0)} s → ${fmt(point.to.rss, 0)} MiB at ${fmt(point.to.t, 0)} s: ${pct(point.growth)} | reported |`,
  '',
])
process.exit(0)
