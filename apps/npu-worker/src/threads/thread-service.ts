import { parentPort, workerData } from 'node:worker_threads'
import { atInheritedPriority, threadPriorityOutcome } from '../backends/thread-priority.js'
import type { FromThread, ToThread } from './thread-protocol.js'

/** A reply and the buffers to transfer with it (they are detached in the thread afterwards). */
export interface TransferableReply<Reply> {
  reply: Reply
  transfer?: ArrayBuffer[]
}

/** What one kind of worker thread does; `serveThread` does the messaging around it. */
export interface ThreadService<Request, Reply, Info> {
  /** Prepares the thread (a session, ...); a rejection is reported as `start-failed` and the thread ends. */
  start(): Promise<Info> | Info
  /** Handles one call. A throw becomes a `failed` reply with the error's message. */
  handle(request: Request): Promise<TransferableReply<Reply>> | TransferableReply<Reply>
  /** Releases what `start` took, before the thread ends on `close`. */
  close?(): Promise<void> | void
}

/**
 * The thread side of thread-channel.ts: builds the service from `workerData`, reports `started` (or
 * `start-failed`), answers calls in arrival order and ends the thread on `close`. Call it once, at the top
 * level of a thread entry file.
 */
export function serveThread<Request, Reply, Info>(
  create: (data: unknown) => ThreadService<Request, Reply, Info>,
): void {
  const port = parentPort
  if (!port) throw new Error('serveThread runs inside a worker thread only')
  // At the event loop's priority: a lowered thread must not hold the loop's port locked (thread-priority.ts).
  const post = (message: FromThread<Reply, Info>, transfer: ArrayBuffer[] = []) =>
    atInheritedPriority(() => port.postMessage(message, transfer))
  const started: Promise<ThreadService<Request, Reply, Info> | null> = (async () => {
    try {
      const service = create(workerData)
      const info = await service.start()
      post({ kind: 'started', info, priority: threadPriorityOutcome() })
      return service
    } catch (error) {
      post({ kind: 'start-failed', message: messageOf(error) })
      port.close()
      return null
    }
  })()
  // Listening from the start: a call sent before the service is up waits for it here instead of being lost.
  port.on('message', async (message: ToThread<Request>) => {
    const service = await started
    if (!service) return
    if (message.kind === 'close') {
      await service.close?.()
      port.close()
      return
    }
    try {
      const { reply, transfer } = await service.handle(message.request)
      post({ kind: 'reply', id: message.id, reply }, transfer)
    } catch (error) {
      post({ kind: 'failed', id: message.id, message: messageOf(error) })
    }
  })
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
