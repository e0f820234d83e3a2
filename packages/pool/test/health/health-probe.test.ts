import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PROTOCOL_VERSION, SUPPORTED_PROTOCOL_VERSIONS } from '@npu-fleet/protocol'
import { Client } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { probeHealth } from '../../src/health/health-probe.js'
import { type MlpFleet, startMlpFleet, startWorker, type WorkerProcess } from '../helpers/fleet.js'
import { closedPort, type Peer, startPeer } from '../helpers/peers.js'

// GET /health against real processes: a serving worker, a starting one, one with no model, and peers that
// answer something else (another service, a placeholder, an npu-worker of an older or a newer protocol).
// Only the real, serving worker counts as serving.

let fleet: MlpFleet
let starting: WorkerProcess
let empty: WorkerProcess
let emptyDir: string
const peers: Peer[] = []
const clients: Client[] = []

beforeAll(async () => {
  emptyDir = mkdtempSync(join(tmpdir(), 'npu-pool-empty-models-'))
  ;[fleet, starting, empty] = await Promise.all([
    startMlpFleet(1),
    startWorker({ env: { NPU_WORKER_TEST_HOOKS: '1', NPU_WORKER_TEST_LOAD_DELAY_MS: '60000' } }),
    startWorker({ modelsDir: emptyDir }),
  ])
  peers.push(
    ...(await Promise.all(
      (['silent', 'other-json', 'placeholder', 'old-protocol', 'future-protocol'] as const).map((m) =>
        startPeer(m),
      ),
    )),
  )
})

afterAll(async () => {
  await Promise.all(clients.map((c) => c.destroy()))
  await Promise.all([
    fleet?.stop(),
    starting?.stop('SIGKILL'),
    empty?.stop('SIGKILL'),
    ...peers.map((p) => p.stop()),
  ])
  rmSync(emptyDir, { recursive: true, force: true })
})

const probe = (url: string, timeoutMs = 2000) => {
  const client = new Client(url)
  clients.push(client)
  return probeHealth(client, '', timeoutMs)
}

describe('probeHealth', () => {
  it('passes a real serving worker (degraded here: ONNX Runtime on the CPU) and reads its capabilities', async () => {
    const result = await probe(fleet.workers[0]!.url)
    expect(result.kind).toBe('serving')
    if (result.kind !== 'serving') return
    expect(result.health.service).toBe('npu-worker')
    expect(result.health.protocol_version).toBe(PROTOCOL_VERSION)
    expect(result.health.status).toBe('degraded')
    expect(result.health.capabilities.models).toEqual(['mlp'])
    expect(result.health.load.capacity).toBeGreaterThan(0)
  })

  it('fails a worker that is starting or has no model, keeping its own status', async () => {
    const s = await probe(starting.url)
    expect(s).toMatchObject({
      kind: 'not_serving',
      health: { status: 'starting' },
      reason: 'HTTP 503 (starting)',
    })
    const e = await probe(empty.url)
    expect(e).toMatchObject({
      kind: 'not_serving',
      health: { status: 'unhealthy' },
      reason: 'HTTP 503 (unhealthy)',
    })
  })

  it('fails a port that accepts TCP and never answers, within the timeout', async () => {
    const result = await probe(peers[0]!.url, 300)
    expect(result).toMatchObject({ kind: 'silent', reason: 'no answer within 300 ms' })
  })

  it('fails a 200 from another service or a placeholder page', async () => {
    expect(await probe(peers[1]!.url)).toMatchObject({
      kind: 'incompatible',
      reason: 'HTTP 200: not an npu-worker (service "billing-api")',
    })
    expect(await probe(peers[2]!.url)).toMatchObject({
      kind: 'incompatible',
      reason: 'HTTP 200 with a body that is not JSON',
    })
  })

  it('refuses an npu-worker that states no protocol_version, or one this pool does not speak', async () => {
    expect(await probe(peers[3]!.url)).toEqual({
      kind: 'incompatible',
      reason: `HTTP 200: no protocol_version (an npu-worker older than the field); this pool speaks protocol ${SUPPORTED_PROTOCOL_VERSIONS.join(', ')}`,
      latencyMs: expect.any(Number),
    })
    expect(await probe(peers[4]!.url)).toEqual({
      kind: 'incompatible',
      reason: `HTTP 200: protocol_version 99 is not one this pool speaks (${SUPPORTED_PROTOCOL_VERSIONS.join(', ')})`,
      latencyMs: expect.any(Number),
    })
  })

  it('fails a closed port as connection refused', async () => {
    expect(await probe(`http://127.0.0.1:${await closedPort()}`)).toMatchObject({
      kind: 'unreachable',
      reason: 'connection refused (ECONNREFUSED)',
    })
  })
})
