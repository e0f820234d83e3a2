import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DgramSocket } from 'node-unix-socket'
import { afterEach, describe, expect, it } from 'vitest'
import { SdNotify } from '../../src/systemd/sd-notify.js'

/** A real unix datagram socket standing in for systemd's notify socket: it records every datagram. */
function notifySocket() {
  const dir = mkdtempSync(join(tmpdir(), 'sd-notify-'))
  const path = join(dir, 'notify.sock')
  const socket = new DgramSocket()
  const received: string[] = []
  const waiters: Array<() => void> = []
  socket.on('data', (buf: Buffer) => {
    received.push(buf.toString('utf8'))
    for (const wake of waiters.splice(0)) wake()
  })
  socket.bind(path)
  return {
    path,
    received,
    /** Resolves once some datagram satisfies `predicate`. */
    async waitFor(predicate: (message: string) => boolean): Promise<string> {
      for (;;) {
        const hit = received.find(predicate)
        if (hit !== undefined) return hit
        await new Promise<void>((resolve) => waiters.push(resolve))
      }
    },
    close() {
      socket.close()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

const cleanups: Array<() => void> = []
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup()
})

describe('SdNotify against a real unix datagram socket', () => {
  it('sends READY=1 with a status line, then STATUS= updates and STOPPING=1', async () => {
    const systemd = notifySocket()
    const notify = new SdNotify({ socketPath: systemd.path, watchdogUsec: undefined, pid: 4242 })
    cleanups.push(
      () => notify.close(),
      () => systemd.close(),
    )
    expect(notify.enabled).toBe(true)
    expect(notify.watchdogIntervalMs).toBeNull()

    await notify.ready('listening on 127.0.0.1:8081; loading models')
    await notify.status('serving 1 model version(s)')
    await notify.stopping('draining')

    await systemd.waitFor((m) => m.startsWith('STOPPING=1'))
    expect(systemd.received).toEqual([
      'READY=1\nSTATUS=listening on 127.0.0.1:8081; loading models',
      'STATUS=serving 1 model version(s)',
      'STOPPING=1\nSTATUS=draining',
    ])
  })

  it('sends WATCHDOG=1 every half WATCHDOG_USEC after READY, and stops when stopping', async () => {
    const systemd = notifySocket()
    // 40 ms period: pings every 20 ms, so the test sees several quickly.
    const notify = new SdNotify({ socketPath: systemd.path, watchdogUsec: '40000', pid: 4242 })
    cleanups.push(
      () => notify.close(),
      () => systemd.close(),
    )
    expect(notify.watchdogIntervalMs).toBe(20)

    await notify.ready('up')
    await systemd.waitFor(() => systemd.received.filter((m) => m === 'WATCHDOG=1').length >= 3)
    expect(systemd.received[0]).toBe('READY=1\nSTATUS=up')

    await notify.stopping('bye')
    await systemd.waitFor((m) => m.startsWith('STOPPING=1'))
    const afterStop = systemd.received.length
    // Two more periods pass; no keep-alive may follow STOPPING=1.
    await new Promise((resolve) => setTimeout(resolve, 60))
    expect(systemd.received.length).toBe(afterStop)
  })

  it('ignores a watchdog meant for another process (WATCHDOG_PID)', () => {
    const other = new SdNotify({
      socketPath: '/nonexistent',
      watchdogUsec: '40000',
      watchdogPid: '1',
      pid: 4242,
    })
    expect(other.watchdogIntervalMs).toBeNull()
    const ours = new SdNotify({
      socketPath: '/nonexistent',
      watchdogUsec: '40000',
      watchdogPid: '4242',
      pid: 4242,
    })
    expect(ours.watchdogIntervalMs).toBe(20)
  })

  it('rejects when the socket path does not exist (server.ts logs it)', async () => {
    const notify = new SdNotify({
      socketPath: join(tmpdir(), 'no-such-notify.sock'),
      watchdogUsec: undefined,
      pid: 1,
    })
    cleanups.push(() => notify.close())
    await expect(notify.ready('x')).rejects.toThrow()
  })
})

describe('SdNotify without NOTIFY_SOCKET', () => {
  it('is a no-op: never opens a socket, never starts a timer', async () => {
    let created = 0
    const notify = new SdNotify({
      socketPath: undefined,
      watchdogUsec: '40000',
      pid: 1,
      createSocket: () => {
        created++
        throw new Error('must not be called')
      },
    })
    expect(notify.enabled).toBe(false)
    await notify.ready('x')
    await notify.status('y')
    await notify.stopping('z')
    notify.close()
    expect(created).toBe(0)
  })
})
