import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DgramSocket } from 'node-unix-socket'
import { afterEach, describe, expect, it } from 'vitest'
import { makeMlpModelRepository, startWorker, type TempModelRepository } from '../helpers/worker-process.js'

const cleanups: Array<() => void> = []
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup()
})

/** What systemd would see on NOTIFY_SOCKET: every datagram, with when it arrived. */
function fakeSystemdNotifySocket() {
  const dir = mkdtempSync(join(tmpdir(), 'notify-'))
  const path = join(dir, 'notify.sock')
  const socket = new DgramSocket()
  const messages: Array<{ text: string; at: number }> = []
  socket.on('data', (buf: Buffer) => messages.push({ text: buf.toString('utf8'), at: Date.now() }))
  socket.bind(path)
  cleanups.push(() => {
    socket.close()
    rmSync(dir, { recursive: true, force: true })
  })
  return { path, messages }
}

async function until(what: string, check: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

describe('systemd notification from the real worker process', () => {
  it('sends READY=1 after listen, WATCHDOG=1 from the event loop (stopping while it is frozen), STOPPING=1 at shutdown', async () => {
    const systemd = fakeSystemdNotifySocket()
    const repository: TempModelRepository = makeMlpModelRepository()
    cleanups.push(() => repository.cleanup())
    const worker = await startWorker({
      modelsDir: repository.dir,
      // WatchdogSec=0.2: a keep-alive every 100 ms.
      env: { NOTIFY_SOCKET: systemd.path, WATCHDOG_USEC: '200000', NPU_WORKER_TEST_HOOKS: '1' },
      waitFor: 'ready',
    })
    const texts = () => systemd.messages.map((m) => m.text)

    await until('READY=1', () => texts().some((t) => t.startsWith('READY=1')))
    const ready = texts().find((t) => t.startsWith('READY=1')) ?? ''
    expect(ready).toContain(`STATUS=listening on 127.0.0.1:${worker.port}`)
    await until('a serving status', () => texts().some((t) => t.startsWith('STATUS=serving 1 model version')))
    await until('keep-alives', () => texts().filter((t) => t === 'WATCHDOG=1').length >= 3)

    // Freeze the event loop for 1.5 s, the way a hung worker would: no keep-alive can leave meanwhile.
    const freeze = await fetch(`${worker.url}/_test/freeze`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ms: 1500 }),
    })
    expect(freeze.status).toBe(200)
    const answeredAt = Date.now()
    const pings = () => systemd.messages.filter((m) => m.text === 'WATCHDOG=1').map((m) => m.at)
    // The freeze begins right after the reply; wait until keep-alives have resumed after it.
    await until(
      'keep-alives after the freeze',
      () => pings().filter((at) => at >= answeredAt + 1000).length >= 2,
    )
    const times = pings()
    const largestGap = Math.max(...times.slice(1).map((at, i) => at - (times[i] as number)))
    // A lower bound, not a timing measurement: the 1.5 s busy-wait makes a gap of about that size unavoidable,
    // while a live loop pings every 100 ms.
    expect(largestGap).toBeGreaterThanOrEqual(1000)

    worker.process.kill('SIGTERM')
    expect(await worker.waitForExit()).toBe(0)
    await until('STOPPING=1', () => texts().some((t) => t.startsWith('STOPPING=1')))
  })
})
