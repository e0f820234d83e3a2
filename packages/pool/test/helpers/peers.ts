import { type ChildProcess, spawn } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures')

const running = new Set<ChildProcess>()
// A request the helper itself sends to learn that the peer's reports have caught up; never listed.
const SYNC_PATH = '/__sync'
// A peer must never outlive the test run, even when a beforeAll failed before anyone could stop it.
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL')
})

/** Behaviours of the scripted peer (test/fixtures/scripted-peer.mjs). */
export type PeerMode =
  /** Accepts TCP connections and never answers. */
  | 'silent'
  /** /health: 200 with some other service's JSON. */
  | 'other-json'
  /** /health: 200 with plain text, like a placeholder page. */
  | 'placeholder'
  /** Valid npu-worker /health serving `mlp`; infer: 503 NPU_ERR_QUEUE_FULL with Retry-After. */
  | 'queue-full'
  /** Valid /health serving `mlp`; infer: 200 with a body that is not a KServe response. */
  | 'bad-body'
  /** Valid /health serving `mlp`; infer: 404 NPU_ERR_MODEL_NOT_FOUND (its capability list is stale). */
  | 'stale-capability'
  /** Valid /health serving `mlp`; infer: 500 NPU_ERR_INFERENCE_FAILED. */
  | 'server-error'
  /** An npu-worker /health without `protocol_version` (older than the field); infer would answer 200. */
  | 'old-protocol'
  /** An npu-worker /health with `protocol_version: 99`; infer would answer 200. */
  | 'future-protocol'
  /** Valid /health and 200 infer answers until SIGUSR2, then /health answers as another service. */
  | 'turncoat'
  /** Valid /health and 200 infer answers; after SIGUSR2 /health never answers (inference still does). */
  | 'mute-health'
  /**
   * Valid /health serving `mlp` and the language model `scripted-chat`; its chat streams send a good chunk, then
   * one whose `choices[0].index` is -1 (a prompt containing "broken first": the broken chunk first).
   */
  | 'broken-stream'

/** A scripted peer process on a loopback port. */
export interface Peer {
  url: string
  port: number
  process: ChildProcess
  /** Requests it received, as `METHOD path` lines (asked over its stdout, in order). */
  requests(): string[]
  /** The requests that carried an Authorization header, as `METHOD path` lines. */
  authorized(): string[]
  /** Sends SIGUSR2 (`turncoat`, `mute-health`) and resolves once the peer says it has turned. */
  turn(): Promise<void>
  /**
   * Resolves once every request the peer received so far has been reported (it reports in order, over its
   * stdout, which can lag the answers): asserting "nothing was sent" after this cannot miss a late line.
   */
  sync(): Promise<void>
  stop(): Promise<void>
}

/** Starts a real process that misbehaves in one way, for failure injection. */
export async function startPeer(mode: PeerMode, options: { retryAfter?: string } = {}): Promise<Peer> {
  const child = spawn(
    process.execPath,
    [join(FIXTURES, 'scripted-peer.mjs'), mode, options.retryAfter ?? '2'],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  )
  const seen: string[] = []
  const withAuth: string[] = []
  let onTurned: (() => void) | null = null
  const onSynced = new Map<string, () => void>()
  let syncs = 0
  let buffer = ''
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`peer ${mode} exited with ${code}`)))
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      buffer += chunk
      const lines = buffer.split('\n')
      buffer = lines.pop() ?? ''
      for (const line of lines) {
        const event = JSON.parse(line) as {
          port?: number
          request?: string
          auth?: boolean
          turned?: boolean
        }
        if (event.port !== undefined) resolve(event.port)
        if (event.turned) onTurned?.()
        if (event.request !== undefined) {
          if (event.request.startsWith(`GET ${SYNC_PATH}`)) onSynced.get(event.request)?.()
          else {
            seen.push(event.request)
            if (event.auth) withAuth.push(event.request)
          }
        }
      }
    })
  })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    process: child,
    requests: () => [...seen],
    authorized: () => [...withAuth],
    turn: () =>
      new Promise<void>((resolve) => {
        onTurned = resolve
        child.kill('SIGUSR2')
      }),
    sync: async () => {
      const path = `${SYNC_PATH}?${++syncs}`
      const reported = new Promise<void>((resolve) => onSynced.set(`GET ${path}`, resolve))
      await (await fetch(`http://127.0.0.1:${port}${path}`)).arrayBuffer()
      await reported
      onSynced.delete(`GET ${path}`)
    },
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
      await exited
    },
  }
}

/** A loopback port nothing listens on (bound, read, released). */
export async function closedPort(): Promise<number> {
  const { createServer } = await import('node:net')
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  await new Promise<void>((resolve) => server.close(() => resolve()))
  if (address === null || typeof address === 'string') throw new Error('no port')
  return address.port
}
