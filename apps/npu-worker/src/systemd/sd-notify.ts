import { createRequire } from 'node:module'

/** The one method of a unix datagram socket that sd_notify needs (node-unix-socket's DgramSocket). */
export interface DatagramSender {
  sendTo(buf: Buffer, offset: number, length: number, path: string, cb?: (error?: Error) => void): void
  close(): void
}

/** Options of the notifier; both come from the environment systemd sets. */
export interface SdNotifyOptions {
  /** `$NOTIFY_SOCKET`; unset outside a `Type=notify` unit, which makes every call a no-op. */
  socketPath: string | undefined
  /** `$WATCHDOG_USEC`; when set, keep-alives go out every half period. */
  watchdogUsec: string | undefined
  /** `$WATCHDOG_PID`; when set to another process's PID, the watchdog is not ours (sd_watchdog_enabled(3)). */
  watchdogPid?: string | undefined
  /** This process's PID (server.ts passes `process.pid`), compared with `watchdogPid`. */
  pid: number
  /** Socket factory (tests pass their own). Default: node-unix-socket, prebuilt, no install script. */
  createSocket?: () => DatagramSender
}

function defaultSocket(): DatagramSender {
  // Node's dgram module cannot send to unix datagram sockets; node-unix-socket can.
  const { DgramSocket } = createRequire(import.meta.url)(
    'node-unix-socket',
  ) as typeof import('node-unix-socket')
  return new DgramSocket()
}

/**
 * sd_notify(3) for Node: READY=1 once the port is bound, STATUS= lines, STOPPING=1 at shutdown, and
 * WATCHDOG=1 keep-alives from a timer on the main event loop, so a hung loop stops them and systemd
 * restarts the worker.
 */
export class SdNotify {
  readonly #path: string | undefined
  readonly #watchdogMs: number | null
  readonly #createSocket: () => DatagramSender
  readonly #pid: number
  #socket: DatagramSender | null = null
  #timer: NodeJS.Timeout | null = null

  constructor(options: SdNotifyOptions) {
    // An abstract socket name is given with a leading '@' and addressed with a leading NUL byte.
    this.#path = options.socketPath?.startsWith('@') ? `\0${options.socketPath.slice(1)}` : options.socketPath
    const usec = Number(options.watchdogUsec)
    const forUs = !options.watchdogPid || Number(options.watchdogPid) === options.pid
    this.#watchdogMs = forUs && Number.isFinite(usec) && usec > 0 ? usec / 1000 : null
    this.#pid = options.pid
    this.#createSocket = options.createSocket ?? defaultSocket
  }

  /** Keep-alive period in ms (half of WATCHDOG_USEC), or null when systemd watches nothing. */
  get watchdogIntervalMs(): number | null {
    return this.#watchdogMs === null ? null : this.#watchdogMs / 2
  }

  /** True under a `Type=notify` unit. */
  get enabled(): boolean {
    return Boolean(this.#path)
  }

  /** Sends raw `KEY=value` lines; resolves once sent (or at once when disabled). */
  send(...lines: string[]): Promise<void> {
    const path = this.#path
    if (!path) return Promise.resolve()
    this.#socket ??= this.#createSocket()
    const buf = Buffer.from(lines.join('\n'))
    return new Promise((resolve, reject) => {
      this.#socket?.sendTo(buf, 0, buf.length, path, (error) => (error ? reject(error) : resolve()))
    })
  }

  /** Tells systemd the service is up, and starts the watchdog keep-alives. */
  async ready(status: string): Promise<void> {
    await this.send('READY=1', `STATUS=${status}`)
    if (this.#watchdogMs && !this.#timer) {
      this.#timer = setInterval(() => {
        this.send('WATCHDOG=1').catch(() => {})
      }, this.#watchdogMs / 2)
      this.#timer.unref()
    }
  }

  /** Updates the status line `systemctl status` shows. */
  status(status: string): Promise<void> {
    return this.send(`STATUS=${status}`)
  }

  /** Tells systemd the service is stopping and ends the keep-alives. */
  async stopping(status: string): Promise<void> {
    if (this.#timer) clearInterval(this.#timer)
    this.#timer = null
    await this.send('STOPPING=1', `STATUS=${status}`)
  }

  /** Closes the socket. */
  close(): void {
    if (this.#timer) clearInterval(this.#timer)
    this.#timer = null
    this.#socket?.close()
    this.#socket = null
  }
}
