#!/usr/bin/env node
// `pnpm bench:peers`: the worker against the stack it replaces, side by side in one run, on the same two
// models (the 384→256→16 MLP and the PP-OCRv4 detector), the same machine and the same load generator:
// FastAPI on one uvicorn worker (uvloop + httptools), one ONNX Runtime session per model
// (intra_op_num_threads=1) run from a 2-thread pool per model, KServe v2 JSON, with the standard library's
// json and with orjson (bench/peers/kserve_peer.py, in a Debian trixie chroot built by
// bench/peers/python-rootfs.sh and cached). Before any figure, every server must answer the same request
// with the same numbers (within ONNX Runtime CPU's tolerance). Then each figure runs in alternating rounds
// and is reported as ours ÷ peer. Where the peer cannot be had here, the section says why; no row is made up.
// Servers run pinned to one core and the load generator to another where the machine allows (as in
// bench:worker). Writes bench/results/peers.md. `--smoke`: tiny counts, and the peer only from the cache.
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { compareOutputs, toleranceFor } from '@npu-fleet/protocol'
import { Pool } from 'undici'
import { DEFAULT_MODELS_DIR } from '../dist/models/default-model-repository.js'
import {
  alternatingRounds,
  cpusAllowed,
  fmt,
  healthWhileLoaded,
  jsonRequest,
  launcherSettings,
  loadAverage,
  machine,
  measure,
  memoryMiB,
  pinnedCores,
  pinSelf,
  poster,
  ratioOfRounds,
  smoke,
  startWorker,
  verdict,
  waitReady,
  withCpu,
  writeResult,
} from './lib.mjs'
import { pythonPeerRootfs, startPythonPeer } from './peers/python-peer.mjs'

const rounds = smoke ? 1 : 5
const roundSeconds = smoke ? 0.5 : 4
const healthSeconds = smoke ? 0.5 : 6
// The last memory reading, this long after the runs: past our idle JSON thread's end (JSON_THREAD_IDLE_MS, 15 s)
// and the retirement of idle ONNX Runtime instances beyond each model's first (default_instance_idle_timeout_ms, 15 s).
const settledSeconds = smoke ? 0.4 : 20
// When the idle reading is taken after the last server started (see below).
const idleSeconds = smoke ? 0.4 : 30
const MODELS = ['mlp', 'ppocr-det']
const mlp = {
  path: '/v2/models/mlp/infer',
  concurrency: 8,
  request: jsonRequest(
    'input',
    [1, 384],
    Float32Array.from({ length: 384 }, (_, i) => Math.sin(i)),
  ),
}
const det = {
  path: '/v2/models/ppocr-det/infer',
  concurrency: 4,
  request: jsonRequest(
    'x',
    [1, 3, 320, 320],
    Float32Array.from({ length: 3 * 320 * 320 }, (_, i) => ((i * 7919) % 255) / 255 - 0.5),
  ),
}

const title = `### Against the Python stack it replaces (${smoke ? 'SMOKE RUN: figures meaningless' : `${rounds} alternating rounds of ${roundSeconds} s per side`})`
const launcher = launcherSettings()
const command =
  'Command: `pnpm bench:peers`. Peer: FastAPI + uvicorn (1 worker, uvloop, httptools) + ONNX Runtime (Debian trixie `python3-onnxruntime`), one session per model with intra_op_num_threads=1 run from a 2-thread pool per model, KServe v2 JSON (bench/peers/kserve_peer.py). Ours: the worker, up to 2 ONNX Runtime threads × 1 thread per model (the second started when a request would wait, retired after 15 s idle), started with the release launcher’s memory settings (`MALLOC_TRIM_THRESHOLD_=' +
  launcher.env.MALLOC_TRIM_THRESHOLD_ +
  '`, `MALLOC_MMAP_THRESHOLD_=' +
  launcher.env.MALLOC_MMAP_THRESHOLD_ +
  '`, `MALLOC_ARENA_MAX=' +
  launcher.env.MALLOC_ARENA_MAX +
  '`, `' +
  launcher.nodeFlags.join(' ') +
  '`). Same two models (MLP 384→256→16, PP-OCRv4 det), same requests, same load generator (undici).'

const { rootfs, reason } = pythonPeerRootfs({ cachedOnly: smoke })
if (!rootfs) {
  writeResult('peers', [
    title,
    '',
    command,
    '',
    `Skipped: the Python peer cannot be had here (${reason}). No row is reported without it.`,
    '',
  ])
  process.exit(0)
}

// One model folder for all servers: the same two models, copied so the chroot can see them.
const modelsDir = mkdtempSync(join(tmpdir(), 'npu-bench-peers-'))
for (const name of MODELS) {
  mkdirSync(join(modelsDir, name, '1'), { recursive: true })
  copyFileSync(join(DEFAULT_MODELS_DIR, name, 'model.yaml'), join(modelsDir, name, 'model.yaml'))
  copyFileSync(join(DEFAULT_MODELS_DIR, name, '1', 'model.onnx'), join(modelsDir, name, '1', 'model.onnx'))
}

const pin = pinnedCores()
const server = pin.cores?.server
if (pin.cores) pinSelf(pin.cores.client)

const servers = []
async function start(label, starting) {
  const { child, url, pid } = await starting
  const entry = { label, child, pid: pid ?? child.pid, url, client: null }
  servers.push(entry)
  await waitReady(url)
  entry.client = new Pool(url, { connections: 8 })
  return entry
}

/** Posts `request` to every server and checks each answer matches ours within ONNX Runtime CPU's tolerance. */
async function sameNumbers(ours, others, { path, request }) {
  const answer = async (s) => {
    const res = await s.client.request({ method: 'POST', path, ...request })
    const body = await res.body.json()
    if (res.statusCode !== 200) throw new Error(`${s.label}: HTTP ${res.statusCode} ${JSON.stringify(body)}`)
    return body.outputs[0]
  }
  const reference = await answer(ours)
  for (const other of others) {
    const output = await answer(other)
    const verdictOf = compareOutputs(
      Float32Array.from(output.data),
      Float32Array.from(reference.data),
      toleranceFor('CPU'),
    )
    if (!verdictOf.ok || output.shape.join() !== reference.shape.join())
      throw new Error(`${other.label} answers ${path} differently from ours: ${JSON.stringify(verdictOf)}`)
  }
  return reference.data.length
}

const out = { load: { start: loadAverage() } }
try {
  const ours = await start('ours', startWorker(['--models-dir', modelsDir], {}, { cpu: server }))
  const stdlib = await start('Python (stdlib json)', startPythonPeer(rootfs, modelsDir, 'stdlib', server))
  const orjson = await start('Python + orjson', startPythonPeer(rootfs, modelsDir, 'orjson', server))
  const all = [ours, stdlib, orjson]
  out.cpus = all.map((s) => `${s.label} \`${cpusAllowed(s.pid)}\``).join(', ')
  out.cpus += `, load generator \`${cpusAllowed(process.pid)}\``
  await new Promise((r) => setTimeout(r, smoke ? 200 : 2000))
  out.memStarted = await Promise.all(all.map((s) => memoryMiB(s.pid)))
  // Idle is what a server keeps once its start-up has settled: ours frees ~20 MiB 10 to 30 s after it is ready
  // (the thread isolates' memory-reducing collections; RSS at 2, 5, 10, 20, 30 s in 3 starts: 152, 152, 147, 135,
  // 132 MiB median), so idle is read 30 s after the last start; the 2 s reading stays beside it.
  await new Promise((r) => setTimeout(r, idleSeconds * 1000 - (smoke ? 200 : 2000)))
  out.memIdle = await Promise.all(all.map((s) => memoryMiB(s.pid)))
  out.checked = [
    await sameNumbers(ours, [stdlib, orjson], mlp),
    await sameNumbers(ours, [stdlib, orjson], det),
  ]

  const throughput = async ({ path, request, concurrency }) => {
    const sides = all.map(
      (s) => (secs) => withCpu(s.pid, () => measure(poster(s.client, path, request), concurrency, secs)),
    )
    const [o, p1, p2] = await alternatingRounds(sides, rounds, roundSeconds)
    return { stdlib: ratioOfRounds(o, p1), orjson: ratioOfRounds(o, p2) }
  }
  out.mlp = await throughput(mlp)
  out.det = await throughput(det)
  out.health = []
  for (const s of all) {
    out.health.push(
      await healthWhileLoaded(s.url, poster(s.client, det.path, det.request), det.concurrency, healthSeconds),
    )
  }
  await new Promise((r) => setTimeout(r, smoke ? 200 : 2000))
  out.memAfter = await Promise.all(all.map((s) => memoryMiB(s.pid)))
  // What the worker keeps after a burst, once its idle threads have ended.
  await new Promise((r) => setTimeout(r, settledSeconds * 1000 - (smoke ? 200 : 2000)))
  out.memSettled = await Promise.all(all.map((s) => memoryMiB(s.pid)))
} finally {
  for (const s of servers) {
    await s.client?.close()
    s.child.kill('SIGTERM')
  }
  rmSync(modelsDir, { recursive: true, force: true })
}
out.load.end = loadAverage()

const spread = (p) => `rounds ${p.ratios.map((r) => fmt(r, 2)).join(', ')}`
const us = (s) => fmt(s * 1e3, 1)
const tput = (label, fig, digits, goal) =>
  `| ${label} | ${fmt(fig.orjson.side.opsPerSec, digits)} req/s (${us(fig.orjson.side.cpuPerOp)} ms CPU/req) | ${fmt(fig.stdlib.base.opsPerSec, digits)} (${us(fig.stdlib.base.cpuPerOp)} ms) | ${fmt(fig.orjson.base.opsPerSec, digits)} (${us(fig.orjson.base.cpuPerOp)} ms) | ${fmt(fig.stdlib.ratio, 2)}× (${spread(fig.stdlib)}) | ${fmt(fig.orjson.ratio, 2)}× (${spread(fig.orjson)}) | ≥ ${goal}×: ${verdict(fig.orjson.ratio >= goal)} |`
// ours ÷ peer for latency and memory: below 1 is better for us.
const lower = (label, values, unit, digits, goal, text) =>
  `| ${label} | ${fmt(values[0], digits)} ${unit} | ${fmt(values[1], digits)} | ${fmt(values[2], digits)} | ${fmt(values[0] / values[1], 2)}× | ${fmt(values[0] / values[2], 2)}× | ${text}: ${verdict(values[0] <= goal * Math.min(values[1], values[2]))} |`
const reported = (label, values, unit, digits) =>
  `| ${label} | ${fmt(values[0], digits)} ${unit} | ${fmt(values[1], digits)} | ${fmt(values[2], digits)} | ${fmt(values[0] / values[1], 2)}× | ${fmt(values[0] / values[2], 2)}× | reported |`
const rssOf = (memories) => memories.map((m) => m.rss)
const split = (memories) =>
  ['ours', 'stdlib', 'orjson']
    .map((label, i) => `${label} ${fmt(memories[i].anonymous, 0)} + ${fmt(memories[i].fileBacked, 0)}`)
    .join(', ')
// Throughput in the "ours" column is our median round against the orjson peer (both comparisons ran the same rounds).
writeResult('peers', [
  title,
  '',
  command,
  '',
  `${machine()}. ${pin.cores ? 'Pinned' : `Not pinned (${pin.reason})`}: Cpus_allowed_list read from /proc: ${out.cpus}. Load average ${out.load.start} at start, ${out.load.end} at end. All three servers answered the MLP (${out.checked[0]} numbers) and the detector (${out.checked[1]} numbers) with the same values within ONNX Runtime CPU's tolerance before the figures.`,
  '',
  '| figure | ours | Python (stdlib json) | Python + orjson | ours ÷ stdlib | ours ÷ orjson | target |',
  '| --- | --- | --- | --- | --- | --- | --- |',
  tput('MLP JSON, concurrency 8', out.mlp, 0, 1.5),
  tput('detector 1×3×320×320 JSON, concurrency 4', out.det, 1, 1.2),
  lower(
    '`/health` p99 while the detector saturates (JSON, concurrency 4)',
    out.health.map((h) => h.p99),
    'ms',
    1,
    0.5,
    '≤ 0.5× the peers (2× better)',
  ),
  reported('RSS 2 s after the last server started, same two models', rssOf(out.memStarted), 'MiB', 0),
  lower(
    `RSS idle (${idleSeconds} s after the last server started)`,
    rssOf(out.memIdle),
    'MiB',
    0,
    1.3,
    '≤ 1.3×',
  ),
  lower('RSS after the runs', rssOf(out.memAfter), 'MiB', 0, 1.3, '≤ 1.3×'),
  reported(
    `RSS ${settledSeconds} s after the runs (our idle JSON thread and idle second instances ended)`,
    rssOf(out.memSettled),
    'MiB',
    0,
  ),
  '',
  `RSS from /proc/PID/smaps_rollup, anonymous + file-backed (binaries, shared libraries): 2 s after start ${split(out.memStarted)}; idle ${split(out.memIdle)}; after the runs ${split(out.memAfter)}; ${settledSeconds} s after ${split(out.memSettled)}.`,
  '',
  `/health p50: ours ${fmt(out.health[0].p50, 2)} ms, stdlib ${fmt(out.health[1].p50, 2)} ms, orjson ${fmt(out.health[2].p50, 2)} ms (${out.health.map((h) => h.count).join(' / ')} probes; monitor at nice ${out.health[0].monitorNiceness}).`,
  '',
])
process.exit(0)
