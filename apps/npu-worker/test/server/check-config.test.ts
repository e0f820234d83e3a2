import { spawnSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import {
  makeMlpModelRepository,
  startWorker,
  type TempModelRepository,
  WORKER_ENTRY,
} from '../helpers/worker-process.js'

const repositories: TempModelRepository[] = []
afterEach(() => {
  for (const repository of repositories.splice(0)) repository.cleanup()
})

function repository(): TempModelRepository {
  const made = makeMlpModelRepository()
  repositories.push(made)
  return made
}

/** Runs the real worker entry point with `args` and returns how it ended. */
function run(args: string[], env: Record<string, string> = {}) {
  const result = spawnSync(process.execPath, [WORKER_ENTRY, ...args], {
    encoding: 'utf8',
    env: { ...process.env, ORT_DISABLE_TELEMETRY: '1', ...env },
    timeout: 30_000,
  })
  return { code: result.status, stdout: result.stdout, stderr: result.stderr }
}

describe('--check-config', () => {
  it('prints "config OK" and exits 0 for a good config and repository, without binding a port', () => {
    const { dir } = repository()
    const configFile = join(dir, 'worker.yaml')
    writeFileSync(configFile, 'port: 8081\nqueue: { max_queued: 10 }\n')
    const result = run(['--check-config', '--config', configFile, '--models-dir', dir])
    expect(result.stderr).toBe('')
    expect(result.code).toBe(0)
    expect(result.stdout).toMatch(/^config OK/)
    expect(result.stdout).toContain('mlp:1')
  })

  it('exits 1 naming the folder when models_dir does not exist', () => {
    const { dir } = repository()
    const missing = join(dir, 'no-such-models')
    const result = run(['--check-config', '--models-dir', missing])
    expect(result.code).toBe(1)
    expect(result.stdout).toBe('')
    expect(result.stderr).toContain(missing)
  })

  it('exits 1 naming the model and key when a model.yaml is invalid', () => {
    const { dir } = repository()
    mkdirSync(join(dir, 'broken'))
    writeFileSync(join(dir, 'broken', 'model.yaml'), 'devices: [TPU]\n')
    writeFileSync(join(dir, 'broken', 'model.onnx'), 'not a model')
    const result = run(['--check-config', '--models-dir', dir])
    expect(result.code).toBe(1)
    expect(result.stderr).toContain('broken/model.yaml: devices')
  })

  it('exits 2 naming the key for a bad value in the YAML file', () => {
    const { dir } = repository()
    const configFile = join(dir, 'worker.yaml')
    writeFileSync(configFile, 'port: 99999\n')
    const result = run(['--check-config', '--config', configFile])
    expect(result.code).toBe(2)
    expect(result.stderr).toContain(`${configFile}: port: expected integer 0..65535`)
  })

  it('exits 2 naming the variable or flag for bad env and flags, also without --check-config', () => {
    const env = run(['--check-config'], { NPU_WORKER_PORT: 'http' })
    expect(env.code).toBe(2)
    expect(env.stderr).toContain('NPU_WORKER_PORT: expected integer 0..65535')
    const flag = run(['--port', 'abc'])
    expect(flag.code).toBe(2)
    expect(flag.stderr).toContain('--port: expected integer 0..65535')
    const unknown = run(['--bogus'])
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toContain("Unknown option '--bogus'")
  })
})

describe('start-up failures', () => {
  it('exits 1 with a message (not a hang, not a stack dump) when models_dir does not exist', () => {
    const { dir } = repository()
    const missing = join(dir, 'gone')
    const result = run(['--host', '127.0.0.1', '--port', '0', '--models-dir', missing])
    expect(result.code).toBe(1)
    expect(result.stdout).toContain('cannot start')
    expect(result.stdout).toContain(missing)
  })

  it('exits 1 naming the address when the port is taken', async () => {
    const { dir } = repository()
    const first = await startWorker({ modelsDir: dir, waitFor: 'listening' })
    const result = run(['--host', '127.0.0.1', '--port', String(first.port), '--models-dir', dir])
    expect(result.code).toBe(1)
    expect(result.stdout).toContain(`EADDRINUSE: address already in use 127.0.0.1:${first.port}`)
    expect(await first.stop()).toBe(0)
  })
})
