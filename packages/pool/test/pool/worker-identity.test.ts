import { SUPPORTED_PROTOCOL_VERSIONS } from '@npu-fleet/protocol'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { NpuWorkerPool } from '../../src/pool.js'
import {
  captureLogger,
  type MlpFleet,
  mlpRequest,
  startMlpFleet,
  waitUntil,
  workerEntry,
} from '../helpers/fleet.js'
import { type Peer, type PeerMode, startPeer } from '../helpers/peers.js'

// The bearer token goes only to a worker whose last /health answer validated as an npu-worker this pool can
// speak to (issue 10, item 7). Real processes: a real worker that requires the token, scripted peers that
// answer /health as an older npu-worker (no protocol_version), a newer one (protocol_version 99), another
// service or a placeholder page, and a turncoat that answers as a worker until SIGUSR2, then as another service.
// Every peer would answer inference with 200 if asked: the test asserts it is never asked.

const TOKEN = 'worker-secret-token-0123456789'
const modes: PeerMode[] = ['old-protocol', 'future-protocol', 'other-json', 'placeholder', 'turncoat']
let fleet: MlpFleet
const peers = new Map<PeerMode, Peer>()

beforeAll(async () => {
  const [started, ...list] = await Promise.all([
    startMlpFleet(1, { env: { NPU_WORKER_TOKEN: TOKEN } }),
    ...modes.map((m) => startPeer(m)),
  ])
  fleet = started as MlpFleet
  for (const [i, m] of modes.entries()) peers.set(m, list[i] as Peer)
})
afterAll(async () => {
  await Promise.all([fleet?.stop(), ...[...peers.values()].map((p) => p.stop())])
})

const peer = (mode: PeerMode) => peers.get(mode) as Peer
const posts = (mode: PeerMode) =>
  peer(mode)
    .requests()
    .filter((r) => r.startsWith('POST'))

async function pool(workers: unknown[]) {
  const logs = captureLogger()
  const p = new NpuWorkerPool({
    // The token is the section default, so every entry (peers included) would carry it if the pool sent it.
    config: {
      workers,
      auth_token: TOKEN,
      load_balancing: { health_check_interval: 0, health_stale_seconds: 600, unhealthy_threshold: 3 },
    },
    logger: logs,
  })
  await p.initialize()
  return { p, logs }
}

describe('worker identity before the token', () => {
  it('refuses workers that do not answer as a compatible npu-worker: no traffic, no token, a reason everywhere', async () => {
    const { p, logs } = await pool([
      workerEntry('old', peer('old-protocol').url, { priority: 10 }),
      workerEntry('future', peer('future-protocol').url, { priority: 10 }),
      workerEntry('other', peer('other-json').url, { priority: 10 }),
      workerEntry('placeholder', peer('placeholder').url, { priority: 10 }),
      workerEntry('real', fleet.workers[0]!.url, { priority: 1 }),
    ])
    try {
      const results = await Promise.all(
        Array.from({ length: 12 }, (_, i) => p.infer('mlp', mlpRequest(1, i))),
      )
      // The real worker requires the token and served every call: the token went there.
      expect(results.map((r) => r.success && r.workerId)).toEqual(Array(12).fill('real'))
      const spoken = SUPPORTED_PROTOCOL_VERSIONS.join(', ')
      expect(
        p.getWorkers().map((w) => [w.id, w.healthy, w.refused, w.protocolVersion, w.totalRequests]),
      ).toEqual([
        [
          'old',
          false,
          `HTTP 200: no protocol_version (an npu-worker older than the field); this pool speaks protocol ${spoken}`,
          null,
          0,
        ],
        ['future', false, `HTTP 200: protocol_version 99 is not one this pool speaks (${spoken})`, null, 0],
        ['other', false, 'HTTP 200: not an npu-worker (service "billing-api")', null, 0],
        ['placeholder', false, 'HTTP 200 with a body that is not JSON', null, 0],
        ['real', true, null, 1, 12],
      ])
      for (const mode of ['old-protocol', 'future-protocol', 'other-json', 'placeholder'] as const) {
        await peer(mode).sync()
        expect(posts(mode), mode).toEqual([])
        expect(peer(mode).authorized(), mode).toEqual([])
      }
      // Probes run concurrently: the log order is the order they finished.
      const refusedLogs = logs.find('warn', 'worker refused')
      expect(refusedLogs.map((l) => l.fields.worker).sort()).toEqual([
        'future',
        'old',
        'other',
        'placeholder',
      ])
      expect(refusedLogs.find((l) => l.fields.worker === 'old')?.fields.reason).toContain(
        'no protocol_version',
      )
      // Refused is reported once per episode, not every round.
      await p.checkHealth()
      expect(logs.find('warn', 'worker refused')).toHaveLength(4)
    } finally {
      await p.close()
    }
  })

  it('stops sending (and stops sending the token) at the first /health that does not validate, thresholds or not', async () => {
    const turncoat = peer('turncoat')
    const { p, logs } = await pool([
      workerEntry('turncoat', turncoat.url, { priority: 10 }),
      workerEntry('real', fleet.workers[0]!.url, { priority: 1 }),
    ])
    try {
      // While it answers as a compatible worker it is one: it gets the traffic, token included.
      expect(await p.infer('mlp', mlpRequest())).toMatchObject({ success: true, workerId: 'turncoat' })
      await turncoat.sync()
      expect(turncoat.authorized()).toEqual(['POST /v2/models/mlp/infer'])
      await turncoat.turn()
      // unhealthy_threshold is 3, yet one answer as another service takes it out at once.
      await waitUntil(async () => {
        await p.checkHealth()
        return p.getWorkers()[0]?.refused !== null
      }, 'the turncoat to answer as another service')
      await turncoat.sync()
      const before = posts('turncoat').length
      const after = await Promise.all(Array.from({ length: 6 }, (_, i) => p.infer('mlp', mlpRequest(1, i))))
      expect(after.map((r) => r.success && r.workerId)).toEqual(Array(6).fill('real'))
      await turncoat.sync()
      expect(posts('turncoat')).toHaveLength(before)
      expect(turncoat.authorized()).toEqual(['POST /v2/models/mlp/infer'])
      expect(p.getWorkers()[0]).toMatchObject({
        healthy: false,
        refused: 'HTTP 200: not an npu-worker (service "billing-api")',
        lastHealthError: 'HTTP 200: not an npu-worker (service "billing-api")',
      })
      expect(logs.find('warn', 'worker refused').map((l) => l.fields.worker)).toEqual(['turncoat'])
    } finally {
      await p.close()
    }
  })
})
