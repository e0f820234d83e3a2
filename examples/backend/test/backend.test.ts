import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { request } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startWorker, type WorkerProcess } from '../../../apps/npu-worker/test/helpers/worker-process.js'

// The example backend as it is deployed: its built server.js in a child process, configured by environment,
// with a pool over two real workers (the default repository: ocr, embeddings, mlp).

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const SERVER = join(ROOT, 'dist', 'server.js')
const ADMIN_TOKEN = 'example-admin-token-0123456789'
let workers: WorkerProcess[]
let backend: ChildProcess
let base: string
let output = ''
const dir = mkdtempSync(join(tmpdir(), 'example-backend-'))

beforeAll(async () => {
  if (!existsSync(SERVER))
    throw new Error('build the example first: pnpm --filter @npu-fleet/example-backend build')
  workers = await Promise.all([startWorker({ waitFor: 'ready' }), startWorker({ waitFor: 'ready' })])
  const config = join(dir, 'npu_workers.yaml')
  // Form 2 (`npu:` host/port), as the main backend's shared config file has it.
  writeFileSync(
    config,
    `server: { name: example }
npu:
  workers:
${workers.map((w, i) => `    - { id: w${i}, host: 127.0.0.1, port: ${w.port}, priority: ${10 - i}, enabled: true }`).join('\n')}
  load_balancing: { health_check_interval: 1, unhealthy_threshold: 1 }
`,
  )
  backend = spawn(process.execPath, [SERVER], {
    env: { PATH: process.env.PATH, PORT: '0', NPU_POOL_CONFIG: config, NPU_POOL_ADMIN_TOKEN: ADMIN_TOKEN },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  base = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`backend did not listen:\n${output}`)), 30_000)
    backend.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk
      const match = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(output)
      if (match) {
        clearTimeout(timer)
        resolve(match[1] as string)
      }
    })
    backend.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk
    })
    backend.once('exit', (code) => reject(new Error(`backend exited with ${code}:\n${output}`)))
  })
})

afterAll(async () => {
  if (backend && backend.exitCode === null) backend.kill('SIGKILL')
  await Promise.all((workers ?? []).map((w) => w.stop('SIGKILL')))
  rmSync(dir, { recursive: true, force: true })
})

async function call(
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
) {
  const res = await request(`${base}${path}`, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  return {
    status: res.statusCode,
    headers: res.headers,
    json: (await res.body.json()) as Record<string, unknown>,
  }
}
const admin = { authorization: `Bearer ${ADMIN_TOKEN}` }

describe('text generation through the pool', () => {
  it('runs the seeds text_analysis call and says which worker and device answered', async () => {
    const res = await request(`${base}/api/text/analyze`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text: 'Shipment 7 arrived late.', max_tokens: 6 }),
    })
    const body = (await res.body.json()) as Record<string, unknown>
    expect(res.statusCode).toBe(200)
    expect(body).toMatchObject({ model: 'tiny-llama-chat', backend: 'onnxruntime', device: 'CPU' })
    expect(['w0', 'w1']).toContain(body.worker)
    expect((body.result as { usage: { completion_tokens: number } }).usage.completion_tokens).toBeGreaterThan(
      0,
    )
  })

  it('streams a chat to its client as server-sent events that add up to the whole answer', async () => {
    const messages = [{ role: 'user', content: 'Where is shipment 7?' }]
    const res = await request(`${base}/api/chat/stream`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ messages, max_tokens: 12 }),
    })
    if (res.statusCode !== 200) throw new Error(`${res.statusCode}: ${await res.body.text()}`)
    expect(res.headers['content-type']).toContain('text/event-stream')
    const events = (await res.body.text())
      .split('\n\n')
      .filter((e) => e.startsWith('data: '))
      .map((e) => e.slice(6))
    expect(events.at(-1)).toBe('[DONE]')
    const text = events
      .slice(0, -1)
      .map(
        (e) =>
          (JSON.parse(e) as { choices: Array<{ delta: { content?: string } }> }).choices[0]?.delta.content ??
          '',
      )
      .join('')
    // Greedy decoding: the same as the worker's own non-streaming answer.
    const direct = await request(`${workers[0]!.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'tiny-llama-chat', messages, max_tokens: 12 }),
    })
    const whole = (await direct.body.json()) as { choices: Array<{ message: { content: string } }> }
    expect(text).toBe(whole.choices[0]!.message.content)
  })

  it('answers a bad chat request with 400 naming the field, nothing streamed', async () => {
    const res = await request(`${base}/api/chat/stream`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ messages: [{ role: 'robot', content: 'x' }] }),
    })
    const body = (await res.body.json()) as { code: string; error: string }
    expect(res.statusCode).toBe(400)
    expect(body.code).toBe('POOL_ERR_BAD_ARGUMENT')
    expect(body.error).toContain('messages[0].role')
  })
})

describe('example backend', () => {
  it('serves tasks and inference through the pool', async () => {
    const embeddings = await call('POST', '/api/tasks/embeddings', { input: ['hello', 'fleet'] })
    expect(embeddings.status).toBe(200)
    expect(embeddings.json).toMatchObject({
      worker: 'w0',
      model: 'tiny-bert-embed',
      device: 'CPU',
      attempts: 1,
    })
    expect((embeddings.json.result as { data: unknown[] }).data).toHaveLength(2)
    const infer = await call('POST', '/api/infer/mlp', {
      inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 384], data: new Array(384).fill(0.25) }],
    })
    expect(infer.status).toBe(200)
    expect((infer.json.outputs as Array<{ shape: number[] }>)[0]?.shape).toEqual([1, 16])
    expect((await call('GET', '/healthz')).json).toEqual({ status: 'ok', healthy_workers: 2 })
  })

  it('passes bad input back as the worker 4xx, and unknown work as 503 with fallback', async () => {
    const bad = await call('POST', '/api/tasks/ocr', { image: 12 })
    expect(bad.status).toBe(400)
    expect(bad.json.code).toBe('NPU_ERR_BAD_TASK_INPUT')
    const unknown = await call('POST', '/api/tasks/translate', { text: 'x' })
    expect(unknown.status).toBe(503)
    expect(unknown.headers['retry-after']).toBe('1')
    expect(unknown.json).toMatchObject({ code: 'POOL_ERR_UNSUPPORTED', fallback: true })
  })

  it('mounts the admin routes behind the bearer token', async () => {
    expect((await call('GET', '/api/npu/pool/stats')).status).toBe(401)
    const stats = (await call('GET', '/api/npu/pool/stats', undefined, admin)).json
    expect(Object.keys(stats).sort()).toEqual([
      'active_tasks',
      'healthy_workers',
      'success_rate',
      'total_tasks_processed',
      'total_workers',
    ])
    expect(stats).toMatchObject({ total_workers: 2, healthy_workers: 2, active_tasks: 0 })
    expect(stats.total_tasks_processed).toBeGreaterThanOrEqual(4)
    const list = (await call('GET', '/api/npu/pool/workers', undefined, admin)).json as {
      workers: Array<{ id: string; url: string; circuit_state: string }>
    }
    expect(list.workers.map((w) => [w.id, w.url, w.circuit_state])).toEqual(
      workers.map((w, i) => [`w${i}`, w.url, 'closed']),
    )
    expect((await call('POST', '/api/npu/pool/reload', undefined, admin)).json).toMatchObject({
      success: true,
      workers_loaded: 2,
    })
  })

  it('keeps serving when a worker is killed, and shuts down cleanly on SIGTERM', async () => {
    await workers[0]!.stop('SIGKILL')
    for (let i = 0; i < 5; i++) {
      const r = await call('POST', '/api/tasks/embeddings', { input: `after kill ${i}` })
      expect(r.status).toBe(200)
      expect(r.json.worker).toBe('w1')
    }
    const exited = new Promise<number | null>((resolve) => backend.once('exit', resolve))
    backend.kill('SIGTERM')
    expect(await exited).toBe(0)
  })
})
