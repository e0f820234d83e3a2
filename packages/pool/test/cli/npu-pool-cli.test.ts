import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { EmbeddingsResponseSchema, InferResponseSchema } from '@npu-fleet/protocol'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  type MlpFleet,
  mlpRequest,
  startMlpFleet,
  startWorker,
  type WorkerProcess,
} from '../helpers/fleet.js'
import { closedPort, type Peer, startPeer } from '../helpers/peers.js'

// The npu-pool CLI as users run it: the bin launcher in a child process, against real workers.

const BIN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'npu-pool.mjs')
let tasks: WorkerProcess
let mlp: MlpFleet
let dead: number
let old: Peer
const dir = mkdtempSync(join(tmpdir(), 'npu-pool-cli-'))

beforeAll(async () => {
  if (!existsSync(join(dirname(BIN), '..', 'dist', 'cli.js')))
    throw new Error('build the pool first: pnpm --filter @npu-fleet/pool build')
  ;[tasks, mlp, dead, old] = await Promise.all([
    startWorker({ waitFor: 'ready' }),
    startMlpFleet(1),
    closedPort(),
    startPeer('old-protocol'),
  ])
})
afterAll(async () => {
  await Promise.all([tasks?.stop('SIGKILL'), mlp?.stop(), old?.stop()])
  rmSync(dir, { recursive: true, force: true })
})

function write(name: string, text: string): string {
  const path = join(dir, name)
  writeFileSync(path, text)
  return path
}

function cli(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { env: { PATH: process.env.PATH, ...env }, timeout: 30_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0
        resolve({ code, stdout, stderr })
      },
    )
  })
}

const fleetConfig = () =>
  write(
    'fleet.yaml',
    `workers:
  - { id: tasks, url: "${tasks.url}", priority: 5, enabled: true }
  - { id: mlp-only, url: "${mlp.workers[0]!.url}", priority: 9, enabled: true, max_concurrent_tasks: 2 }
  - { id: gone, url: "http://127.0.0.1:${dead}", priority: 1, enabled: true }
  - { id: parked, url: "http://127.0.0.1:${dead}", priority: 1, enabled: false }
`,
  )

describe('npu-pool status', () => {
  it('prints id, url, priority, health, circuit, active and p50 latency for every worker', async () => {
    const { code, stdout, stderr } = await cli(['status', '--config', fleetConfig(), '--samples', '2'])
    expect(code).toBe(0)
    const [header, ...lines] = stdout.trim().split('\n')
    expect(header?.split(/\s+/)).toEqual([
      'ID',
      'URL',
      'PRIORITY',
      'HEALTH',
      'CIRCUIT',
      'ACTIVE',
      'P50',
      'TTFT',
      'TOK/S',
    ])
    const rows = lines.slice(0, 4).map((l) => l.split(/\s+/))
    expect(rows.map((r) => r.slice(0, 6))).toEqual([
      ['tasks', tasks.url, '5', 'degraded', 'closed', expect.stringMatching(/^0\/\d+$/)],
      ['mlp-only', mlp.workers[0]!.url, '9', 'degraded', 'closed', '0/2'],
      ['gone', `http://127.0.0.1:${dead}`, '1', 'down', 'closed', '-'],
      ['parked', `http://127.0.0.1:${dead}`, '1', 'disabled', 'closed', '-'],
    ])
    // A status run sends no stream of its own: TTFT and TOK/S are empty.
    expect(lines[0]).toMatch(/\d+\.\d ms\s+-\s+-$/)
    expect(lines[2]).toMatch(/-$/)
    expect(stdout).toContain('gone: connection refused (ECONNREFUSED)')
    expect(stderr).toBe('')
  })

  it('shows a worker it cannot speak to as refused, with the reason', async () => {
    const config = write(
      'old.yaml',
      `workers:
  - { id: old, url: "${old.url}", priority: 9, enabled: true }
  - { id: mlp-only, url: "${mlp.workers[0]!.url}", enabled: true }
`,
    )
    const { code, stdout } = await cli(['status', '--config', config, '--samples', '1'])
    expect(code).toBe(0)
    const rows = stdout
      .trim()
      .split('\n')
      .slice(1, 3)
      .map((l) => l.split(/\s+/).slice(0, 4))
    expect(rows).toEqual([
      ['old', old.url, '9', 'refused'],
      ['mlp-only', mlp.workers[0]!.url, '5', 'degraded'],
    ])
    expect(stdout).toContain('old: HTTP 200: no protocol_version (an npu-worker older than the field)')
  })

  it('exits non-zero when no worker is healthy', async () => {
    const config = write(
      'dead.yaml',
      `workers:\n  - { id: gone, url: "http://127.0.0.1:${dead}", enabled: true }\n`,
    )
    const { code, stderr } = await cli(['status', '--config', config])
    expect(code).toBe(1)
    expect(stderr).toContain('npu-pool: no healthy worker')
  })

  it('prints JSON with --json and falls back to NPU_WORKER_URL when the file is missing', async () => {
    const { code, stdout, stderr } = await cli(['status', '--json', '--config', join(dir, 'missing.yaml')], {
      NPU_WORKER_URL: mlp.workers[0]!.url,
    })
    expect(code).toBe(0)
    const body = JSON.parse(stdout) as { workers: Array<{ id: string; healthy: boolean; models: string[] }> }
    expect(body.workers.map((w) => [w.id, w.healthy, w.models])).toEqual([['default', true, ['mlp']]])
    expect(stderr).toContain('not found; using one worker from NPU_WORKER_URL=')
  })
})

describe('npu-pool exec and infer', () => {
  it('runs one task through the pool and prints the result', async () => {
    const { code, stdout } = await cli([
      'exec',
      'embeddings',
      '--config',
      fleetConfig(),
      '--data',
      '{"input":"hello fleet"}',
    ])
    expect(code).toBe(0)
    const result = JSON.parse(stdout) as {
      success: boolean
      workerId: string
      attempts: number
      result: unknown
    }
    expect(result).toMatchObject({ success: true, workerId: 'tasks', attempts: 1 })
    expect(EmbeddingsResponseSchema.parse(result.result).data).toHaveLength(1)
  })

  it('runs KServe inference with --data @file', async () => {
    const data = write('request.json', JSON.stringify(mlpRequest(2)))
    const { code, stdout } = await cli(['infer', 'mlp', '--config', fleetConfig(), '--data', `@${data}`])
    expect(code).toBe(0)
    const result = JSON.parse(stdout) as { workerId: string; result: unknown }
    expect(result.workerId).toBe('mlp-only')
    expect(InferResponseSchema.parse(result.result).outputs[0]?.shape).toEqual([2, 16])
  })

  it('exits 1 with the failure as JSON when the task cannot run', async () => {
    const { code, stdout, stderr } = await cli([
      'exec',
      'translate',
      '--config',
      fleetConfig(),
      '--data',
      '{}',
    ])
    expect(code).toBe(1)
    expect(JSON.parse(stdout)).toMatchObject({ success: false, code: 'POOL_ERR_UNSUPPORTED', fallback: true })
    expect(stderr).toContain('POOL_ERR_UNSUPPORTED')
  })

  it('exits 2 on usage and config errors, naming what is wrong', async () => {
    const cases: Array<[string[], RegExp]> = [
      [[], /Usage:/],
      [['launch'], /unknown command "launch"/],
      [['exec', 'ocr'], /exec needs --data/],
      [['exec', '--data', '{}'], /exec needs a TYPE/],
      [['exec', 'ocr', '--data', '{nope'], /--data is not valid JSON/],
      [['exec', 'ocr', '--data', '@/nonexistent.json'], /cannot read \(ENOENT\)/],
      [['status', '--samples', '0'], /--samples must be a positive integer/],
      [['status', '--bogus'], /Unknown option '--bogus'/],
      [
        [
          'status',
          '--config',
          write(
            'bad.yaml',
            'workers:\n  - { id: a, url: "http://127.0.0.1:1", enabled: true, priority: 11 }\n',
          ),
        ],
        /invalid config: .*bad\.yaml: workers\[0\]\.priority: must be between 1 and 10/,
      ],
    ]
    for (const [args, message] of cases) {
      const { code, stderr } = await cli(args)
      expect(code, args.join(' ')).toBe(2)
      expect(stderr).toMatch(message)
    }
    const help = await cli(['--help'])
    expect(help.code).toBe(0)
    expect(help.stdout).toContain('npu-pool status')
  })
})

describe('npu-pool chat', () => {
  it('streams the answer to stdout (a line at a time off a terminal), the same text as the whole answer', async () => {
    const r = await cli([
      'chat',
      'tiny-llama-chat',
      '--message',
      'Where is shipment 7?',
      '--max-tokens',
      '10',
      '--config',
      fleetConfig(),
    ])
    expect(r.code, r.stderr).toBe(0)
    const direct = await fetch(`${tasks.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'tiny-llama-chat',
        messages: [{ role: 'user', content: 'Where is shipment 7?' }],
        max_tokens: 10,
      }),
    })
    const whole = (await direct.json()) as { choices: Array<{ message: { content: string } }> }
    expect(r.stdout).toBe(`${whole.choices[0]!.message.content}\n`)
  })

  it('needs a model and --message (exit 2), and fails with the pool code for a model nobody serves (exit 1)', async () => {
    expect((await cli(['chat', 'tiny-llama-chat', '--config', fleetConfig()])).code).toBe(2)
    const r = await cli(['chat', 'no-such-model', '--message', 'hi', '--config', fleetConfig()])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('POOL_ERR_UNSUPPORTED')
  })
})
