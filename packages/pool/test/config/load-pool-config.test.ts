import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { DEFAULT_WORKER_URL, loadPoolConfig } from '../../src/config/load-pool-config.js'
import { defaultLoadBalancing, PoolConfigError, parsePoolConfig } from '../../src/config/pool-config.js'

const dir = mkdtempSync(join(tmpdir(), 'npu-pool-config-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

let n = 0
function file(text: string): string {
  const path = join(dir, `config-${++n}.yaml`)
  writeFileSync(path, text)
  return path
}

async function issuesOf(promise: Promise<unknown>): Promise<readonly string[]> {
  try {
    await promise
  } catch (error) {
    expect(error).toBeInstanceOf(PoolConfigError)
    expect((error as PoolConfigError).code).toBe('POOL_ERR_CONFIG_INVALID')
    return (error as PoolConfigError).issues
  }
  throw new Error('expected the config to be rejected')
}

const issuesOfDocument = (doc: unknown) =>
  issuesOf(Promise.resolve().then(() => parsePoolConfig(doc, { env: {} })))

describe('loadPoolConfig: both YAML forms of DESIGN.md', () => {
  it('reads form 1 (url) with every default applied', async () => {
    const path = file(`workers:
  - { id: npu-worker-vm2, url: http://192.0.2.22:8081, priority: 10, enabled: true, max_concurrent_tasks: 4 }
  - { id: npu-worker-vm3, url: "https://npu3.internal:9443/", enabled: false }
load_balancing: { health_check_interval: 30, retry_cooldown_seconds: 60, timeout_seconds: 10 }
`)
    const config = await loadPoolConfig(path, { env: {} })
    expect(config.source).toEqual({ kind: 'file', path })
    expect(config.warnings).toEqual([])
    expect(config.workers).toEqual([
      {
        id: 'npu-worker-vm2',
        url: 'http://192.0.2.22:8081',
        origin: 'http://192.0.2.22:8081',
        basePath: '',
        priority: 10,
        enabled: true,
        maxConcurrentTasks: 4,
        authToken: null,
      },
      {
        id: 'npu-worker-vm3',
        url: 'https://npu3.internal:9443',
        origin: 'https://npu3.internal:9443',
        basePath: '',
        priority: 5,
        enabled: false,
        maxConcurrentTasks: 4,
        authToken: null,
      },
    ])
    expect(config.loadBalancing).toEqual(defaultLoadBalancing())
    expect(config.loadBalancing).toMatchObject({
      healthCheckIntervalMs: 30_000,
      retryCooldownMs: 60_000,
      maxCooldownMs: 300_000,
      attemptTimeoutMs: 10_000,
      failureThreshold: 5,
      maxAttempts: 3,
      healthStaleMs: 45_000,
    })
  })

  it('reads form 2 (npu: with host and port) into the same shape', async () => {
    const path = file(`# the backend's shared config: other sections are not ours
server: { port: 3000 }
npu:
  workers:
    - { id: npu-worker-vm2, host: 192.0.2.22, port: 8081, priority: 10, enabled: true, max_concurrent_tasks: 4 }
    - { id: v6, host: "::1", port: 8082, enabled: true }
  load_balancing: { failure_threshold: 3, max_attempts: 2 }
`)
    const config = await loadPoolConfig(path, { env: {} })
    expect(config.workers.map((w) => [w.id, w.url, w.priority, w.maxConcurrentTasks])).toEqual([
      ['npu-worker-vm2', 'http://192.0.2.22:8081', 10, 4],
      ['v6', 'http://[::1]:8082', 5, 4],
    ])
    expect(config.loadBalancing.failureThreshold).toBe(3)
    expect(config.loadBalancing.maxAttempts).toBe(2)
  })

  it('keeps a URL path prefix as the base path', async () => {
    const config = parsePoolConfig(
      { workers: [{ id: 'a', url: 'http://gw.local/npu/a/', enabled: true }] },
      { env: {} },
    )
    expect(config.workers[0]).toMatchObject({
      url: 'http://gw.local/npu/a',
      origin: 'http://gw.local',
      basePath: '/npu/a',
    })
  })

  it('takes tokens from the worker, then the section, then NPU_WORKER_TOKEN', () => {
    const doc = {
      auth_token: 'section-token-0123456789',
      workers: [
        { id: 'a', url: 'http://127.0.0.1:1', enabled: true, auth_token: 'worker-token-0123456789' },
        { id: 'b', url: 'http://127.0.0.1:2', enabled: true },
      ],
    }
    expect(parsePoolConfig(doc, { env: {} }).workers.map((w) => w.authToken)).toEqual([
      'worker-token-0123456789',
      'section-token-0123456789',
    ])
    const { auth_token: _, ...withoutSection } = doc
    expect(
      parsePoolConfig(withoutSection, { env: { NPU_WORKER_TOKEN: 'env-token-0123456789' } }).workers.map(
        (w) => w.authToken,
      ),
    ).toEqual(['worker-token-0123456789', 'env-token-0123456789'])
  })
})

describe('loadPoolConfig: errors name the field path', () => {
  it('rejects a priority outside 1-10 with the exact path', async () => {
    const path = file(`workers:
  - { id: a, url: http://127.0.0.1:8081, enabled: true }
  - { id: b, url: http://127.0.0.1:8082, enabled: true, priority: 11 }
`)
    expect(await issuesOf(loadPoolConfig(path, { env: {} }))).toEqual([
      'workers[1].priority: must be between 1 and 10',
    ])
    expect(
      await issuesOfDocument({
        npu: { workers: [{ id: 'a', url: 'http://h:1', enabled: true, priority: 0 }] },
      }),
    ).toEqual(['npu.workers[0].priority: must be between 1 and 10'])
  })

  it('requires id, enabled and an address, and reports every problem at once', async () => {
    expect(
      await issuesOfDocument({
        workers: [{ url: 'http://h:1' }, { id: 'b', enabled: 'yes', host: 'h' }, { id: 'c', enabled: true }],
      }),
    ).toEqual([
      'workers[0].id: required',
      'workers[0].enabled: required',
      'workers[1].enabled: expected boolean, got string "yes"',
    ])
    expect(
      await issuesOfDocument({
        workers: [
          { id: 'b', enabled: true, host: 'h' },
          { id: 'c', enabled: true },
        ],
      }),
    ).toEqual(['workers[0].port: required with host', 'workers[1]: required: url, or host and port'])
  })

  it('rejects a port outside 1-65535 and a malformed id', async () => {
    expect(
      await issuesOfDocument({
        workers: [
          { id: 'h', host: 'h', port: 70000, enabled: true },
          { id: '-x y', url: 'http://h:1', enabled: true },
        ],
      }),
    ).toEqual([
      'workers[0].port: must be between 1 and 65535',
      'workers[1].id: must be 1-128 characters of A-Z a-z 0-9 . _ : - (not starting with a symbol)',
    ])
  })

  it('rejects duplicate ids and bad URLs', async () => {
    expect(
      await issuesOfDocument({
        workers: [
          { id: 'a', url: 'http://h:1', enabled: true },
          { id: 'a', url: 'http://h:2', enabled: true },
          { id: 'c', url: 'ftp://h:3', enabled: true },
          { id: 'd', url: 'not a url', enabled: true },
          { id: 'e', url: 'http://user:secret@h:4', enabled: true },
          { id: 'f', url: 'http://h:5/?x=1', enabled: true },
          { id: 'g', url: 'http://h:6', host: 'h', port: 6, enabled: true },
        ],
      }),
    ).toEqual([
      'workers[1].id: duplicate id "a" (also workers[0])',
      'workers[2].url: must be an http:// or https:// URL, got "ftp"',
      'workers[3].url: not a valid URL: "not a url"',
      'workers[4].url: must not contain credentials (use auth_token)',
      'workers[5].url: must not have a query or fragment',
      'workers[6]: give either url or host and port, not both',
    ])
  })

  it('rejects unknown keys (typos), wrong types and out-of-range load_balancing values', async () => {
    expect(
      await issuesOfDocument({
        workers: [{ id: 'a', url: 'http://h:1', enabled: true, max_concurent_tasks: 8 }],
        load_balancing: { timeout_seconds: 0, max_attempts: 'three', failure_treshold: 5 },
      }),
    ).toEqual([
      'workers[0]: unknown key "max_concurent_tasks"',
      'load_balancing.timeout_seconds: must be greater than 0',
      'load_balancing.max_attempts: expected number, got string "three"',
      'load_balancing: unknown key "failure_treshold"',
    ])
    expect(
      await issuesOfDocument({
        workers: [{ id: 'a', url: 'http://h:1', enabled: true }],
        load_balancing: { retry_cooldown_seconds: 60, max_cooldown_seconds: 30 },
      }),
    ).toEqual(['load_balancing.max_cooldown_seconds: must be at least retry_cooldown_seconds'])
  })

  it('refuses a file with both forms, neither form, no workers, or two documents', async () => {
    expect(
      await issuesOfDocument({
        workers: [{ id: 'a', url: 'http://h:1', enabled: true }],
        npu: { workers: [] },
      }),
    ).toEqual(['both `workers:` (form 1) and `npu:` (form 2) are present; use one form'])
    expect(await issuesOfDocument({ server: { port: 1 } })).toEqual([
      'no workers: expected `workers:` (form 1) or `npu: { workers: }` (form 2)',
    ])
    expect(await issuesOfDocument({ workers: [] })).toEqual(['workers: must list at least one worker'])
    expect(await issuesOfDocument({ npu: { workers: 'a' } })).toEqual([
      'npu.workers: expected array, got string "a"',
    ])
    expect(await issuesOfDocument([1, 2])).toEqual([
      'expected a mapping with `workers:` (form 1) or `npu: { workers: }` (form 2)',
    ])
    // The two forms of DESIGN.md pasted into one file as two YAML documents.
    const both = file(`workers:
  - { id: a, url: http://127.0.0.1:8081, enabled: true }
---
npu:
  workers:
    - { id: a, host: 127.0.0.1, port: 8081, enabled: true }
`)
    expect(await issuesOf(loadPoolConfig(both, { env: {} }))).toEqual(['holds 2 YAML documents; use one'])
  })

  it('reports YAML syntax errors, empty files and unreadable paths with the file name', async () => {
    const broken = file('workers:\n  - { id: a, url: http://h:1, enabled: true\n')
    await expect(loadPoolConfig(broken, { env: {} })).rejects.toThrow(new RegExp(`^${broken}: invalid YAML`))
    expect(await issuesOf(loadPoolConfig(file(''), { env: {} }))).toEqual(['the file is empty'])
    expect(await issuesOf(loadPoolConfig(file('# nothing\n'), { env: {} }))).toEqual(['the file is empty'])
    const folder = join(dir, 'a-folder.yaml')
    mkdirSync(folder)
    expect(await issuesOf(loadPoolConfig(folder, { env: {} }))).toEqual(['cannot read: EISDIR'])
  })
})

describe('loadPoolConfig: missing file', () => {
  it('falls back to one worker from NPU_WORKER_URL, with a warning', async () => {
    const missing = join(dir, 'nope.yaml')
    const config = await loadPoolConfig(missing, { env: { NPU_WORKER_URL: 'http://198.51.100.3:9000' } })
    expect(config.source).toEqual({ kind: 'env', variable: 'NPU_WORKER_URL', missingPath: missing })
    expect(config.workers).toEqual([
      expect.objectContaining({ id: 'default', url: 'http://198.51.100.3:9000', enabled: true, priority: 5 }),
    ])
    expect(config.warnings).toEqual([
      `config file ${missing} not found; using one worker from NPU_WORKER_URL=http://198.51.100.3:9000`,
    ])
  })

  it('uses http://127.0.0.1:8081 when NPU_WORKER_URL is unset, and rejects a bad one', async () => {
    const missing = join(dir, 'nope.yaml')
    const config = await loadPoolConfig(missing, { env: {} })
    expect(config.workers[0]?.url).toBe(DEFAULT_WORKER_URL)
    expect(config.warnings[0]).toContain('NPU_WORKER_URL unset')
    expect(await issuesOf(loadPoolConfig(missing, { env: { NPU_WORKER_URL: 'localhost:8081' } }))).toEqual([
      'must be an http:// or https:// URL, got "localhost"',
    ])
  })
})
