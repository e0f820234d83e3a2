import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createServer } from 'node:net'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The example backend's compiled entry (built by turbo before these tests: a devDependency). */
const BACKEND_ENTRY = join(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  '..',
  'examples',
  'backend',
  'dist',
  'server.js',
)

/** A process a test started; `stop()` kills it and resolves once it is gone. */
export interface TestProcess {
  url: string
  process: ChildProcess
  logs(): string
  stop(signal?: NodeJS.Signals): Promise<void>
}

const running = new Set<ChildProcess>()
// Nothing a test starts may outlive the run, even when vitest aborts.
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL')
})

/** A free loopback port (bound and released at once: Prometheus takes its port on the command line). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

function track(child: ChildProcess, url: string): TestProcess {
  running.add(child)
  let output = ''
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk
  })
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk
  })
  const exited = new Promise<void>((resolve) => {
    child.once('close', () => {
      running.delete(child)
      resolve()
    })
  })
  return {
    url,
    process: child,
    logs: () => output,
    stop: async (signal = 'SIGKILL') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal)
      await exited
    },
  }
}

async function until<T>(
  what: string,
  check: () => Promise<T | null>,
  proc: TestProcess,
  timeoutMs: number,
): Promise<T> {
  const end = Date.now() + timeoutMs
  while (Date.now() < end) {
    if (proc.process.exitCode !== null) throw new Error(`${what}: the process exited\n${proc.logs()}`)
    const value = await check().catch(() => null)
    if (value !== null) return value
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  await proc.stop()
  throw new Error(`${what}: timed out\n${proc.logs()}`)
}

/**
 * Starts the example backend (examples/backend: a real `@npu-fleet/pool` with its admin plugin) on a loopback
 * port, with the pool config at `configPath`; resolves once it listens.
 */
export async function startBackend(configPath: string, adminToken: string): Promise<TestProcess> {
  if (!existsSync(BACKEND_ENTRY)) throw new Error(`${BACKEND_ENTRY} is missing: run \`pnpm build\` first`)
  const child = spawn(process.execPath, [BACKEND_ENTRY], {
    env: {
      ...process.env,
      NPU_POOL_ADMIN_TOKEN: adminToken,
      NPU_POOL_CONFIG: configPath,
      HOST: '127.0.0.1',
      PORT: '0',
      LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const proc = track(child, '')
  const url = await until(
    'the example backend did not listen',
    async () => /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(proc.logs())?.[1] ?? null,
    proc,
    60_000,
  )
  return { ...proc, url }
}

/**
 * Starts a real Prometheus server (Debian's `prometheus`, scripts/install-system-deps.sh) on loopback only,
 * with `configPath` and its own tsdb under `dataDir`; resolves once `/-/ready` answers 200.
 */
export async function startPrometheus(configPath: string, dataDir: string): Promise<TestProcess> {
  const port = await freePort()
  const child = spawn(
    'prometheus',
    [
      `--config.file=${configPath}`,
      `--web.listen-address=127.0.0.1:${port}`,
      `--storage.tsdb.path=${dataDir}`,
      '--storage.tsdb.retention.time=1h',
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  const spawned = await new Promise<Error | null>((resolve) => {
    child.once('spawn', () => resolve(null))
    child.once('error', resolve)
  })
  if (spawned) {
    throw new Error(
      `cannot run prometheus (${spawned.message}): install it with scripts/install-system-deps.sh prometheus (as root)`,
    )
  }
  const proc = track(child, `http://127.0.0.1:${port}`)
  await until(
    'prometheus did not become ready',
    async () => ((await fetch(`${proc.url}/-/ready`)).status === 200 ? true : null),
    proc,
    60_000,
  )
  return proc
}
