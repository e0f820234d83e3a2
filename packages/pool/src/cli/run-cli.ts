import { readFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { isPoolError } from '../errors.js'
import { NpuWorkerPool } from '../pool.js'
import type { PoolFailure } from '../pool-types.js'
import { formatStatusTable, median, type StatusRow } from './status-table.js'
import { textLogger } from './text-logger.js'

/** Where the CLI writes, and what it reads from its environment. */
export interface CliIo {
  stdout: (text: string) => void
  stderr: (text: string) => void
  env: NodeJS.ProcessEnv
  /** True when stdout is a terminal: `chat` writes each piece as it comes, else a line at a time. */
  isTTY?: boolean
}

/** Exit codes of `npu-pool`. */
export const EXIT = {
  ok: 0,
  /** No healthy worker, or the task failed. */
  failed: 1,
  /** Bad arguments or config. */
  usage: 2,
} as const

const USAGE = `Usage:
  npu-pool status [--config FILE] [--samples N] [--json]
  npu-pool exec TYPE --data JSON|@FILE [--config FILE] [--timeout MS]
  npu-pool infer MODEL --data JSON|@FILE [--version V] [--config FILE] [--timeout MS]
  npu-pool chat MODEL --message TEXT [--max-tokens N] [--config FILE] [--timeout MS]

Config: --config, else $NPU_POOL_CONFIG, else config/npu_workers.yaml (missing: one worker from
$NPU_WORKER_URL, default http://127.0.0.1:8081). Logs go to stderr (--verbose for info).
Exit: 0 ok · 1 no healthy worker, or the task failed · 2 bad arguments or config.
`

class UsageError extends Error {}

/** Runs `npu-pool` with `argv` (without node and script) and returns the exit code. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let parsed: ReturnType<typeof parse>
  try {
    parsed = parse(argv)
  } catch (error) {
    io.stderr(`npu-pool: ${(error as Error).message}\n\n${USAGE}`)
    return EXIT.usage
  }
  const { command, positional, values } = parsed
  if (values.help || command === 'help' || command === undefined) {
    ;(command === undefined && !values.help ? io.stderr : io.stdout)(USAGE)
    return command === undefined && !values.help ? EXIT.usage : EXIT.ok
  }
  try {
    switch (command) {
      case 'status':
        return await status(values, io)
      case 'exec':
      case 'infer':
        return await call(command, positional, values, io)
      case 'chat':
        return await chat(positional, values, io)
      default:
        throw new UsageError(`unknown command ${JSON.stringify(command)}`)
    }
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr(`npu-pool: ${error.message}\n\n${USAGE}`)
      return EXIT.usage
    }
    if (isPoolError(error) && error.code === 'POOL_ERR_CONFIG_INVALID') {
      io.stderr(`npu-pool: invalid config: ${error.message}\n`)
      return EXIT.usage
    }
    throw error
  }
}

function parse(argv: readonly string[]) {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      data: { type: 'string', short: 'd' },
      version: { type: 'string' },
      message: { type: 'string', short: 'm' },
      'max-tokens': { type: 'string' },
      timeout: { type: 'string' },
      samples: { type: 'string' },
      json: { type: 'boolean' },
      verbose: { type: 'boolean', short: 'v' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  const [command, ...positional] = positionals
  return { command, positional, values }
}

type Values = ReturnType<typeof parse>['values']

function positiveInt(raw: string | undefined, name: string, fallback: number): number {
  if (raw === undefined) return fallback
  const n = Number(raw)
  if (!Number.isInteger(n) || n < 1)
    throw new UsageError(`${name} must be a positive integer, got ${JSON.stringify(raw)}`)
  return n
}

async function openPool(values: Values, io: CliIo): Promise<NpuWorkerPool> {
  // Logs go to stderr so stdout stays the answer (a table or JSON).
  const pool = new NpuWorkerPool({
    configPath: values.config ?? io.env.NPU_POOL_CONFIG ?? undefined,
    env: io.env,
    logger: textLogger(values.verbose ? 'info' : 'warn', io.stderr),
  })
  await pool.initialize()
  return pool
}

async function status(values: Values, io: CliIo): Promise<number> {
  const samples = positiveInt(values.samples, '--samples', 3)
  const pool = await openPool(values, io)
  try {
    const latencies = new Map<string, number[]>()
    const collect = () => {
      for (const w of pool.getWorkers()) {
        if (w.lastHealthError === null && w.lastHealthLatencyMs !== null) {
          latencies.set(w.id, [...(latencies.get(w.id) ?? []), w.lastHealthLatencyMs])
        }
      }
    }
    collect()
    for (let i = 1; i < samples; i++) {
      await pool.checkHealth()
      collect()
    }
    const workers = pool.getWorkers()
    const rows: StatusRow[] = workers.map((worker) => ({
      worker,
      p50Ms: median(latencies.get(worker.id) ?? []),
    }))
    if (values.json) {
      io.stdout(
        `${JSON.stringify({ workers: rows.map((r) => ({ ...r.worker, healthP50Ms: r.p50Ms })) }, null, 2)}\n`,
      )
    } else {
      io.stdout(formatStatusTable(rows))
    }
    const healthy = workers.filter((w) => w.enabled && w.healthy).length
    if (healthy === 0) io.stderr('npu-pool: no healthy worker\n')
    return healthy === 0 ? EXIT.failed : EXIT.ok
  } finally {
    await pool.close()
  }
}

async function call(
  command: 'exec' | 'infer',
  positional: readonly string[],
  values: Values,
  io: CliIo,
): Promise<number> {
  const [name, ...rest] = positional
  const what = command === 'exec' ? 'TYPE' : 'MODEL'
  if (name === undefined) throw new UsageError(`${command} needs a ${what}`)
  if (rest.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(rest[0])}`)
  if (values.data === undefined) throw new UsageError(`${command} needs --data JSON (or --data @file.json)`)
  const data = await readData(values.data)
  const timeoutMs = values.timeout === undefined ? undefined : positiveInt(values.timeout, '--timeout', 1)
  const pool = await openPool(values, io)
  try {
    const result =
      command === 'exec'
        ? await pool.executeTask(name, data, { timeoutMs })
        : await pool.infer(name, data, { timeoutMs, version: values.version })
    io.stdout(`${JSON.stringify(result, null, 2)}\n`)
    if (!result.success)
      io.stderr(`npu-pool: ${(result as PoolFailure).code}: ${(result as PoolFailure).error}\n`)
    return result.success ? EXIT.ok : EXIT.failed
  } finally {
    await pool.close()
  }
}

/** Streams a chat answer to stdout: piece by piece on a terminal, a line at a time otherwise (pipes, logs). */
async function chat(positional: readonly string[], values: Values, io: CliIo): Promise<number> {
  const [model, ...rest] = positional
  if (model === undefined) throw new UsageError('chat needs a MODEL')
  if (rest.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(rest[0])}`)
  if (values.message === undefined) throw new UsageError('chat needs --message TEXT')
  const timeoutMs = values.timeout === undefined ? undefined : positiveInt(values.timeout, '--timeout', 1)
  const maxTokens =
    values['max-tokens'] === undefined ? undefined : positiveInt(values['max-tokens'], '--max-tokens', 1)
  const pool = await openPool(values, io)
  let pending = ''
  try {
    const messages = [{ role: 'user' as const, content: values.message }]
    for await (const chunk of pool.stream(model, messages, { timeoutMs, max_tokens: maxTokens })) {
      const piece = chunk.choices[0]?.delta.content ?? ''
      if (io.isTTY) {
        if (piece !== '') io.stdout(piece)
        continue
      }
      pending += piece
      const end = pending.lastIndexOf('\n')
      if (end >= 0) {
        io.stdout(pending.slice(0, end + 1))
        pending = pending.slice(end + 1)
      }
    }
    io.stdout(`${pending}\n`)
    return EXIT.ok
  } catch (error) {
    if (!isPoolError(error)) throw error
    if (pending !== '') io.stdout(`${pending}\n`)
    io.stderr(`npu-pool: ${error.code}: ${error.message}\n`)
    return EXIT.failed
  } finally {
    await pool.close()
  }
}

async function readData(raw: string): Promise<unknown> {
  let text = raw
  if (raw.startsWith('@')) {
    try {
      text = await readFile(raw.slice(1), 'utf8')
    } catch (error) {
      throw new UsageError(`--data ${raw}: cannot read (${(error as NodeJS.ErrnoException).code ?? 'error'})`)
    }
  }
  try {
    return JSON.parse(text)
  } catch (error) {
    throw new UsageError(`--data is not valid JSON: ${(error as Error).message}`)
  }
}
