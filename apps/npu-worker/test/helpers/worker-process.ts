import { type ChildProcess, spawn } from 'node:child_process'
import { cpSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { onTestFinished } from 'vitest'

/** Root of the worker package (apps/npu-worker). */
export const WORKER_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
/** The built entry point every integration test runs: the same file production runs. */
export const WORKER_ENTRY = join(WORKER_ROOT, 'dist', 'server.js')
/** The generated default model repository (built by `pnpm --filter @npu-fleet/worker build`). */
export const GENERATED_MODELS_DIR = join(WORKER_ROOT, 'generated', 'models')

/** Options of {@link startWorker}. */
export interface StartWorkerOptions {
  /** Extra CLI arguments, after `--host 127.0.0.1 --port 0` (and `--models-dir` when given). */
  args?: readonly string[]
  /** Extra environment variables (merged over this process's environment). */
  env?: Readonly<Record<string, string | undefined>>
  /** Model repository to serve (`--models-dir`); default: the worker's own default. */
  modelsDir?: string
  /** `listening`: resolve once the port is bound; `ready`: also wait for `/health` to answer 200. */
  waitFor?: 'listening' | 'ready'
  /** How long to wait for `waitFor` before failing (ms). */
  timeoutMs?: number
}

/** A real worker process on a loopback port. */
export interface WorkerProcess {
  /** `http://127.0.0.1:PORT` */
  url: string
  port: number
  process: ChildProcess
  /** Everything the process wrote so far (stdout and stderr interleaved). */
  logs(): string
  /** JSON log lines parsed so far (stdout lines that are not JSON are skipped). */
  logLines(): Record<string, unknown>[]
  /** Sends `signal` (default SIGTERM) and resolves with the exit code once the process has exited. */
  stop(signal?: NodeJS.Signals): Promise<number | null>
  /** Resolves with the exit code (null when killed by a signal) once the process exits. */
  waitForExit(): Promise<number | null>
}

const running = new Set<ChildProcess>()

// A worker must never outlive the test run, even when a test forgets to stop it or vitest aborts.
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL')
})

/**
 * Spawns `node dist/server.js --host 127.0.0.1 --port 0 ...` and resolves once it logged "listening"
 * (and, with `waitFor: 'ready'`, once `/health` answers 200). Inside a test the process is killed when the
 * test ends; from `beforeAll`, call `stop()` in `afterAll` (leftovers are killed when the run exits).
 */
export async function startWorker(options: StartWorkerOptions = {}): Promise<WorkerProcess> {
  if (!existsSync(WORKER_ENTRY)) {
    throw new Error(`${WORKER_ENTRY} is missing: run \`pnpm --filter @npu-fleet/worker build\` first`)
  }
  const args = [WORKER_ENTRY, '--host', '127.0.0.1', '--port', '0']
  if (options.modelsDir) args.push('--models-dir', options.modelsDir)
  args.push(...(options.args ?? []))
  const child = spawn(process.execPath, args, {
    cwd: WORKER_ROOT,
    env: { ...process.env, ORT_DISABLE_TELEMETRY: '1', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  running.add(child)

  let output = ''
  const lines: Record<string, unknown>[] = []
  let partial = ''
  const exited = new Promise<number | null>((resolve) => {
    // 'close', not 'exit': it fires after stdout and stderr are drained, so logs() is complete by then.
    child.once('close', (code) => {
      running.delete(child)
      resolve(code)
    })
  })
  let onLine: ((line: Record<string, unknown>) => void) | null = null
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk
    partial += chunk
    const complete = partial.split('\n')
    partial = complete.pop() ?? ''
    for (const text of complete) {
      try {
        const line = JSON.parse(text) as Record<string, unknown>
        lines.push(line)
        onLine?.(line)
      } catch {
        // Not a JSON log line (pino-pretty is never used on a pipe, but a native library may print).
      }
    }
  })
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk
  })

  const timeoutMs = options.timeoutMs ?? 60_000
  const fail = (why: string): Error => {
    child.kill('SIGKILL')
    return new Error(`worker ${why}\n--- worker output ---\n${output}`)
  }

  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(fail(`did not log "listening" within ${timeoutMs} ms`)), timeoutMs)
    onLine = (line) => {
      if (line.msg === 'listening' && typeof line.port === 'number') {
        clearTimeout(timer)
        onLine = null
        resolve(line.port)
      }
    }
    for (const line of lines) onLine(line)
    exited.then((code) => {
      clearTimeout(timer)
      reject(new Error(`worker exited with code ${code} before listening\n--- worker output ---\n${output}`))
    })
  })

  const url = `http://127.0.0.1:${port}`
  const worker: WorkerProcess = {
    url,
    port,
    process: child,
    logs: () => output,
    logLines: () => [...lines],
    waitForExit: () => exited,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal)
      return exited
    },
  }

  try {
    onTestFinished(async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
      await exited
    })
  } catch {
    // Called outside a test (beforeAll): the caller stops it; the exit hook above is the safety net.
  }

  if (options.waitFor === 'ready') await waitForHealthy(worker, timeoutMs, exited, fail)
  return worker
}

async function waitForHealthy(
  worker: WorkerProcess,
  timeoutMs: number,
  exited: Promise<number | null>,
  fail: (why: string) => Error,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let gone = false
  exited.then(() => {
    gone = true
  })
  let last = ''
  while (Date.now() < deadline) {
    if (gone) throw fail('exited while waiting for /health 200')
    try {
      const response = await fetch(`${worker.url}/health`)
      last = `${response.status} ${await response.text()}`
      if (response.status === 200) return
    } catch (error) {
      last = (error as Error).message
    }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw fail(`/health did not answer 200 within ${timeoutMs} ms (last: ${last})`)
}

/** A temporary model repository; `cleanup()` removes it. */
export interface TempModelRepository {
  dir: string
  cleanup(): void
}

/**
 * A temporary model repository holding only the generated `mlp` (fast to load). `manifest` replaces its
 * model.yaml (e.g. to set `instances` or `batching`); `extra` adds more folders copied from the generated set.
 */
export function makeMlpModelRepository(
  options: { manifest?: string; extra?: readonly string[] } = {},
): TempModelRepository {
  const source = join(GENERATED_MODELS_DIR, 'mlp')
  if (!existsSync(join(source, 'model.yaml'))) {
    throw new Error(`${source} is missing: run \`pnpm --filter @npu-fleet/worker build\` first`)
  }
  const dir = mkdtempSync(join(tmpdir(), 'npu-worker-models-'))
  cpSync(source, join(dir, 'mlp'), { recursive: true })
  if (options.manifest !== undefined) writeFileSync(join(dir, 'mlp', 'model.yaml'), options.manifest)
  for (const name of options.extra ?? [])
    cpSync(join(GENERATED_MODELS_DIR, name), join(dir, name), { recursive: true })
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}
