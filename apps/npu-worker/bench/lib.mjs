// Shared pieces of the worker benchmarks: a closed-loop load generator, a real worker process, result files.
import { spawn } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

process.env.ORT_DISABLE_TELEMETRY ??= '1'

/** `--smoke`: tiny counts, only proves the benchmark still runs (CI). */
export const smoke = process.argv.includes('--smoke')
export const benchDir = dirname(fileURLToPath(import.meta.url))
export const WORKER_ENTRY = join(benchDir, '..', 'dist', 'server.js')

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

/** Starts `node dist/server.js` on a free loopback port; resolves once it logged "listening". */
export function startWorker(args = [], env = {}) {
  const started = performance.now()
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WORKER_ENTRY, '--host', '127.0.0.1', '--port', '0', ...args], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, ...env },
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
