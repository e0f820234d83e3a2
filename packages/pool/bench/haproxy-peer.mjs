// HAProxy as the pool's peer in the benchmark: what an operator would put in front of the fleet instead of a
// client-side pool. Installed the way the repo installs its system packages (scripts/install-system-deps.sh),
// configured as issue 14 says: balance leastconn, active /health checks, observe layer7 + on-error mark-down,
// option redispatch, retry-on all-retryable-errors, maxconn per server = the pool's cap.
import { execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createConnection, createServer } from 'node:net'
import os from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { onCpus } from '../../../apps/npu-worker/bench/lib.mjs'
import { sleep } from './bench-lib.mjs'

const INSTALL = join(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  '..',
  'scripts',
  'install-system-deps.sh',
)

function version() {
  try {
    return execFileSync('haproxy', ['-v'], { encoding: 'utf8' }).split('\n')[0].trim()
  } catch {
    return null
  }
}

/**
 * `{ ok: true, version }` when haproxy runs here, after installing it if it is missing and we may (root);
 * otherwise `{ ok: false, why }`, and the benchmark skips the comparison saying so (it never fakes a row).
 */
export function ensureHaproxy() {
  const found = version()
  if (found) return { ok: true, version: found }
  if (process.getuid?.() !== 0) {
    return { ok: false, why: `haproxy is not installed and this is not root: run ${INSTALL} haproxy as root` }
  }
  try {
    execFileSync(INSTALL, ['haproxy'], { stdio: ['ignore', 'ignore', 'pipe'] })
  } catch (error) {
    return {
      ok: false,
      why: `installing haproxy failed: ${String(error.stderr ?? error.message)
        .trim()
        .split('\n')
        .at(-1)}`,
    }
  }
  const installed = version()
  return installed
    ? { ok: true, version: installed }
    : { ok: false, why: 'haproxy was installed but does not run' }
}

/** A loopback port free right now (bound, read, released: HAProxy cannot report a port it picked itself). */
async function freePort() {
  const server = createServer()
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address()
  await new Promise((resolve) => server.close(resolve))
  return port
}

/** Sends one command to HAProxy's stats socket and returns its answer. */
function command(socketPath, text) {
  return new Promise((resolve, reject) => {
    const socket = createConnection(socketPath)
    let out = ''
    socket.setEncoding('utf8')
    socket.on('data', (chunk) => {
      out += chunk
    })
    socket.on('end', () => resolve(out))
    socket.on('error', reject)
    socket.write(`${text}\n`)
  })
}

/**
 * Starts HAProxy in front of `servers` (`[{ name, port }]`) and resolves once every server is UP.
 * Settings mirror the pool's: `maxconn` = its cap, `inter` = its health interval, `fall`/`rise` = its
 * thresholds, `errorLimit` = its failure threshold, `retries` = its max attempts − 1, `timeoutServerMs` = its
 * attempt timeout, `timeoutQueueMs` = its task deadline (a request waits for a free server that long).
 */
export async function startHaproxy(servers, settings, { cpu } = {}) {
  const dir = mkdtempSync(join(os.tmpdir(), 'pool-bench-haproxy-'))
  const port = await freePort()
  const socket = join(dir, 'admin.sock')
  const config = `global
  # Far above what the benchmark opens (16 client connections, 8 per server), and within a default FD limit.
  maxconn 2000
  # One thread, like the pool (one event loop): the comparison is the balancer, not a core count.
  nbthread 1
  stats socket ${socket} mode 600 level admin

defaults
  mode http
  option http-keep-alive
  timeout connect 2s
  timeout client 60s
  timeout server ${settings.timeoutServerMs}ms
  timeout queue ${settings.timeoutQueueMs}ms
  timeout http-keep-alive 30s
  retries ${settings.retries}
  option redispatch
  retry-on all-retryable-errors

frontend fleet
  bind 127.0.0.1:${port}
  default_backend workers

backend workers
  balance leastconn
  option httpchk GET /health
  http-check expect status 200
  default-server check inter ${settings.healthIntervalMs}ms fall ${settings.fall} rise ${settings.rise} maxconn ${settings.maxconn} observe layer7 error-limit ${settings.errorLimit} on-error mark-down
${servers.map((s) => `  server ${s.name} 127.0.0.1:${s.port}`).join('\n')}
`
  const path = join(dir, 'haproxy.cfg')
  writeFileSync(path, config)
  execFileSync('haproxy', ['-c', '-q', '-f', path])
  const [program, argv] = onCpus(cpu, ['haproxy', '-db', '-f', path])
  const child = spawn(program, argv, { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (chunk) => {
    stderr += chunk
  })
  const exited = new Promise((resolve) => child.once('exit', resolve))
  const up = async () => {
    const csv = await command(socket, 'show stat').catch(() => '')
    const rows = csv.split('\n').filter((l) => l.startsWith('workers,') && !l.startsWith('workers,BACKEND'))
    return rows.length === servers.length && rows.every((r) => r.split(',')[17]?.startsWith('UP'))
  }
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`haproxy exited: ${stderr.trim()}`)
    if (await up()) break
    if (i > 400) throw new Error(`haproxy servers never all UP: ${stderr.trim()}`)
    await sleep(25)
  }
  // Clock ticks per second of /proc/PID/stat's utime and stime (USER_HZ, 100 on Linux).
  const TICKS = 100
  return {
    url: `http://127.0.0.1:${port}`,
    pid: child.pid,
    config,
    /** HAProxy's CPU time so far (user + system), in µs. */
    cpuUs() {
      const fields = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1].split(' ')
      return ((Number(fields[11]) + Number(fields[12])) * 1e6) / TICKS
    },
    /** Servers HAProxy currently has DOWN (or in MAINT). */
    async down() {
      const csv = await command(socket, 'show stat').catch(() => '')
      return csv
        .split('\n')
        .filter((l) => l.startsWith('workers,') && !l.startsWith('workers,BACKEND'))
        .filter((r) => !r.split(',')[17]?.startsWith('UP'))
        .map((r) => r.split(',')[1])
    },
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 2000)
      await exited
      clearTimeout(timer)
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
