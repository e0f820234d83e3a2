// Shared pieces of the worker benchmarks: a closed-loop load generator, a real worker process, result files.
import { execFileSync, spawn } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

process.env.ORT_DISABLE_TELEMETRY ??= '1'

/** `--smoke`: tiny counts, only proves the benchmark still runs (CI). */
export const smoke = process.argv.includes('--smoke')
export const benchDir = dirname(fileURLToPath(import.meta.url))
export const WORKER_ENTRY = join(benchDir, '..', 'dist', 'server.js')
const LAUNCHER = join(benchDir, '..', '..', '..', 'scripts', 'release', 'npu-worker.sh')

/**
 * The process settings the release launcher gives the worker (scripts/release/npu-worker.sh: malloc's trim
 * and mmap thresholds and V8's heap flags), read from the launcher itself, so a benchmark measures the worker
 * as deployed.
 */
export function launcherSettings() {
  const text = readFileSync(LAUNCHER, 'utf8')
  const malloc = (name) => new RegExp(`${name}="\\$\\{${name}:-(\\d+)\\}"`).exec(text)?.[1]
  const trim = malloc('MALLOC_TRIM_THRESHOLD_')
  const mmap = malloc('MALLOC_MMAP_THRESHOLD_')
  const arenas = malloc('MALLOC_ARENA_MAX')
  const flags = /node_memory_flags="\$\{NPU_WORKER_NODE_FLAGS:-([^}]*)\}"/.exec(text)?.[1]
  if (!trim || !mmap || !arenas || flags === undefined)
    throw new Error(`the worker's memory settings are not where expected in ${LAUNCHER}`)
  return {
    env: { MALLOC_TRIM_THRESHOLD_: trim, MALLOC_MMAP_THRESHOLD_: mmap, MALLOC_ARENA_MAX: arenas },
    nodeFlags: flags.split(/\s+/).filter(Boolean),
  }
}

export const percentile = (sorted, p) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN

/** Runs `task` in `workers` concurrent loops for `seconds`; returns ops/s and latency percentiles (ms). */
export async function measure(task, workers, seconds) {
  const latencies = []
  const end = performance.now() + seconds * 1000
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
  return {
    opsPerSec: ops / seconds,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    count: ops,
  }
}

/**
 * Starts `node dist/server.js` on a free loopback port, with the launcher's settings (launcherSettings);
 * resolves once it logged "listening". With `cpu` (a core list such as "1"), the process and every thread it
 * starts run only there (`taskset -c`).
 */
export function startWorker(args = [], env = {}, { cpu } = {}) {
  const started = performance.now()
  const launcher = launcherSettings()
  return new Promise((resolve, reject) => {
    const [command, argv] = onCpus(cpu, [
      process.execPath,
      ...launcher.nodeFlags,
      WORKER_ENTRY,
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      ...args,
    ])
    const child = spawn(command, argv, {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, ...launcher.env, ...env },
    })
    let buffered = ''
    child.stdout.on('data', (chunk) => {
      buffered += chunk
      const lines = buffered.split('\n')
      buffered = lines.pop() ?? ''
      for (const line of lines) {
        try {
          const entry = JSON.parse(line)
          if (entry.msg === 'listening') resolve({ child, url: `http://127.0.0.1:${entry.port}`, started })
        } catch {}
      }
    })
    child.on('exit', (code) => reject(new Error(`worker exited ${code}`)))
  })
}

/** `[command, args]` that runs `argv` on `cpu` only (taskset execs it: the PID stays the program's), or as is. */
export function onCpus(cpu, argv) {
  return cpu === undefined ? [argv[0], argv.slice(1)] : ['taskset', ['-c', cpu, ...argv]]
}

/**
 * The cores of a pinned run: the server side gets the last core to itself, the load generator the first.
 * Null, with the reason, where that cannot be done (one core, no taskset).
 */
export function pinnedCores() {
  const cores = os.availableParallelism()
  if (cores < 2) return { cores: null, reason: `only ${cores} core available` }
  try {
    execFileSync('taskset', ['-V'], { stdio: 'ignore' })
  } catch {
    return { cores: null, reason: 'taskset (util-linux) is not installed' }
  }
  return { cores: { server: String(cores - 1), client: '0' }, reason: null }
}

/** Moves this process and all its threads (V8, libuv, undici) to `cpuList` (taskset -a -p). */
export function pinSelf(cpuList) {
  execFileSync('taskset', ['-a', '-p', '-c', cpuList, String(process.pid)], { stdio: 'ignore' })
}

/** The cores a process may run on, as the kernel says (`Cpus_allowed_list` in /proc/PID/status). */
export function cpusAllowed(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  return /Cpus_allowed_list:\s*(\S+)/.exec(status)?.[1] ?? 'unknown'
}

let clockTicks = 0
/**
 * CPU seconds a process has used so far, all its threads together (utime + stime of /proc/PID/stat); with
 * `thread`, that one thread's (/proc/PID/task/TID/stat; the main thread's TID is the PID).
 */
export function cpuSeconds(pid, { thread } = {}) {
  if (clockTicks === 0) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
    } catch {
      clockTicks = 100
    }
  }
  const stat = readFileSync(
    thread === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${thread}/stat`,
    'utf8',
  )
  // The command name (field 2) may hold spaces and parentheses: count fields after its closing one.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / clockTicks
}

/** The 1, 5 and 15 minute load averages, for stating how busy the machine was during a run. */
export const loadAverage = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' / ')

/** Polls `/health` until it answers 200; returns the milliseconds since `since`. */
export async function waitReady(url, since = performance.now()) {
  for (let i = 0; i < 3000; i++) {
    try {
      const res = await fetch(`${url}/health`)
      await res.arrayBuffer()
      if (res.status === 200) return performance.now() - since
    } catch {}
    await new Promise((r) => setTimeout(r, 20))
  }
  throw new Error('worker not ready')
}

/** Resident set size of a process in MiB (Linux /proc). */
export async function rssMiB(pid) {
  const { readFile } = await import('node:fs/promises')
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN)
  return kb / 1024
}

/**
 * A process's resident memory in MiB from /proc/PID/smaps_rollup: all of it, and the anonymous part (heaps,
 * arenas, stacks) apart from the file-backed rest (the runtime's binaries and shared libraries).
 */
export async function memoryMiB(pid) {
  const { readFile } = await import('node:fs/promises')
  const rollup = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8')
  const kb = (field) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(rollup)?.[1] ?? Number.NaN)
  const rss = kb('Rss') / 1024
  const anonymous = kb('Anonymous') / 1024
  return { rss, anonymous, fileBacked: rss - anonymous }
}

export const fmt = (n, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : 'n/a')
export const verdict = (ok) => (ok ? 'met' : '**missed**')
export const machine = () => `${os.cpus().length} cores (${os.cpus()[0]?.model}), Node ${process.version}`

/** Prints a result section and writes it to bench/results/NAME.md (NAME.smoke.md for smoke runs). */
export function writeResult(name, lines) {
  const text = lines.join('\n')
  console.log(text)
  mkdirSync(join(benchDir, 'results'), { recursive: true })
  writeFileSync(join(benchDir, 'results', smoke ? `${name}.smoke.md` : `${name}.md`), `${text}\n`)
}

/** The KServe binary extension request for one FP32 input (JSON header + raw bytes). */
export function binaryRequest(input, shape, data, outputs) {
  const header = Buffer.from(
    JSON.stringify({
      inputs: [{ name: input, datatype: 'FP32', shape, parameters: { binary_data_size: data.byteLength } }],
      ...(outputs ? { outputs: outputs.map((name) => ({ name, parameters: { binary_data: true } })) } : {}),
      parameters: { binary_data_output: true },
    }),
  )
  return {
    headers: {
      'inference-header-content-length': String(header.length),
      'content-type': 'application/octet-stream',
    },
    body: Buffer.concat([header, Buffer.from(data.buffer, data.byteOffset, data.byteLength)]),
  }
}

/** The plain JSON request for one FP32 input. */
export function jsonRequest(input, shape, data) {
  return {
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ inputs: [{ name: input, datatype: 'FP32', shape, data: Array.from(data) }] }),
  }
}

/**
 * Runs `run()` and adds the CPU seconds process `pid` used meanwhile (`cpuSeconds`), all threads and its main
 * thread apart (`mainCpuSeconds`: the event loop, which bounds a worker's throughput on a host of many cores).
 */
export async function withCpu(pid, run) {
  const cpu0 = cpuSeconds(pid)
  const main0 = cpuSeconds(pid, { thread: pid })
  const result = await run()
  return {
    ...result,
    cpuSeconds: cpuSeconds(pid) - cpu0,
    mainCpuSeconds: cpuSeconds(pid, { thread: pid }) - main0,
  }
}

/**
 * `body.dump()` options that read an answer of any size to its end. undici's default limit is 128 KiB: past it,
 * dump() aborts the request and so closes the connection, and every detector answer (400 KB) would cost the
 * server a new TCP connection, which a keep-alive client never asks of it.
 */
export const DUMP_WHOLE_BODY = { limit: Number.MAX_SAFE_INTEGER }

/** One POST of a prepared request through an undici client; anything but 200 throws with the answer. */
export function poster(client, path, request) {
  return async () => {
    const res = await client.request({ method: 'POST', path, ...request })
    if (res.statusCode !== 200) throw new Error(`${path}: HTTP ${res.statusCode} ${await res.body.text()}`)
    await res.body.dump(DUMP_WHOLE_BODY)
  }
}

export const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]

/**
 * Alternating rounds: every side (a function of seconds that returns a `measure` result) runs once per
 * round, back to back, and the order rotates each round so no side always runs first (for two sides: AB,
 * BA, AB...). Returns, per side, its result in each round.
 */
export async function alternatingRounds(sides, rounds, seconds) {
  const results = sides.map(() => [])
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < sides.length; k++) {
      const i = (k + r) % sides.length
      results[i].push(await sides[i](seconds))
    }
  }
  return results
}

/**
 * The figure for `side` over `base` from alternatingRounds' results: the median of the per-round ratios
 * (their spread shows how noisy the machine was), each side's median round, and each side's CPU per
 * operation over all its rounds (when the rounds carry `cpuSeconds`).
 */
export function ratioOfRounds(side, base) {
  const ratios = side.map((s, r) => s.opsPerSec / base[r].opsPerSec)
  const mid = (list) => list.find((q) => q.opsPerSec === median(list.map((p) => p.opsPerSec)))
  const perOp = (list, field) =>
    list.reduce((sum, q) => sum + (q[field] ?? Number.NaN), 0) / list.reduce((sum, q) => sum + q.count, 0)
  const figures = (list) => ({
    ...mid(list),
    cpuPerOp: perOp(list, 'cpuSeconds'),
    mainCpuPerOp: perOp(list, 'mainCpuSeconds'),
  })
  return { ratio: median(ratios), ratios, base: figures(base), side: figures(side) }
}

/**
 * The `/health` monitor's niceness, above the load generator's 0. They share the client's core, and at equal
 * priority a slow probe's time was largely the client's: its process runnable behind the generator's 6 MB
 * writes, up to 14 ms of a probe (`perf sched`, detector saturating the pinned worker), so the figure timed the
 * bench's core, not the worker. A real monitor runs on a host of its own. Raising needs CAP_SYS_NICE (the
 * benchmarks run as root); where refused, the monitor stays at the generator's priority.
 */
const MONITOR_NICENESS = -10

/** Moves process `pid` (its main thread) to MONITOR_NICENESS where allowed; returns the niceness it has. */
function raisePriority(pid) {
  try {
    os.setPriority(pid, MONITOR_NICENESS)
  } catch {}
  return os.getPriority(pid)
}

/**
 * Starts a `/health` monitor in a process of its own (bench/health-probe.mjs: one probe every 20 ms on one
 * keep-alive connection, opened before this resolves, only the request timed), on `cpu` if given, else on this
 * process's cores, at MONITOR_NICENESS where allowed (`niceness`: what it runs at). `stop()` ends it and
 * resolves with its latencies (ms), sorted. A process of its own, as a real monitor is: a load generator's
 * event loop, busy writing 6 MB JSON bodies and reading the answers, held answered probes for up to 27 ms
 * before their callbacks ran, and the figure timed the bench, not the worker.
 */
export async function startHealthMonitor(url, cpu) {
  const [command, argv] = onCpus(cpu, [process.execPath, join(benchDir, 'health-probe.mjs'), url])
  const monitor = spawn(command, argv, { stdio: ['pipe', 'pipe', 'inherit'] })
  const niceness = raisePriority(monitor.pid)
  let printed = ''
  monitor.stdout.on('data', (chunk) => {
    printed += chunk
  })
  const exited = new Promise((resolve) => monitor.once('exit', resolve))
  while (!printed.includes('ready\n')) {
    if (monitor.exitCode !== null)
      throw new Error(`health monitor exited (${monitor.exitCode}) before it was ready`)
    await new Promise((r) => setTimeout(r, 10))
  }
  return {
    niceness,
    stop: async () => {
      monitor.stdin.end()
      await exited
      return JSON.parse(printed.slice(printed.indexOf('ready\n') + 6)).sort((a, b) => a - b)
    },
  }
}

/**
 * `/health` latency as a monitor sees it (startHealthMonitor) while `concurrency` loops of `load` keep the
 * server busy.
 */
export async function healthWhileLoaded(url, load, concurrency, seconds) {
  let stop = false
  const loops = Array.from({ length: concurrency }, async () => {
    while (!stop) await load()
  })
  await new Promise((r) => setTimeout(r, smoke ? 100 : 1000))
  let latencies = []
  let niceness = Number.NaN
  try {
    const monitor = await startHealthMonitor(url)
    niceness = monitor.niceness
    await new Promise((r) => setTimeout(r, seconds * 1000))
    latencies = await monitor.stop()
  } finally {
    stop = true
    await Promise.all(loops)
  }
  return {
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    count: latencies.length,
    monitorNiceness: niceness,
  }
}

/**
 * Loads one model in a child process of its own on `cpu` (bench/in-process-runner.mjs: the worker's ONNX
 * Runtime backend and settings, no HTTP). `spec`: { name, modelPath, instances, input, shape, data }.
 * `measure(seconds, { concurrency, rows })` runs it there and resolves with measure()'s result plus the
 * child's `cpuSeconds` over the window; `close()` unloads it and waits for the exit.
 */
export async function startInProcess(spec, cpu) {
  const [command, argv] = onCpus(cpu, [process.execPath, join(benchDir, 'in-process-runner.mjs')])
  const child = spawn(command, argv, {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    serialization: 'advanced',
  })
  const ask = (message, expect) =>
    new Promise((resolve, reject) => {
      const onMessage = (reply) => {
        child.off('message', onMessage)
        if (reply.type === expect) resolve(reply)
        else reject(new Error(`in-process runner: ${reply.message ?? reply.type}`))
      }
      child.on('message', onMessage)
      child.send(message)
    })
  await ask({ type: 'load', ...spec }, 'loaded')
  return {
    pid: child.pid,
    measure: async (seconds, { concurrency, rows } = {}) =>
      (await ask({ type: 'measure', seconds, concurrency, rows }, 'measured')).result,
    close: async () => {
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.send({ type: 'close' })
      await exited
    },
  }
}
