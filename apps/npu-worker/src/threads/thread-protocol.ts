// The envelope every worker thread of the worker speaks (ONNX Runtime sessions, the JSON codec): one shape of
// start-up handshake, numbered calls and replies, and close, so the main side (thread-channel.ts) and the thread
// side (thread-service.ts) are written once.

import type { PriorityOutcome } from '../backends/thread-priority.js'

/** Main thread -> thread. */
export type ToThread<Request> = { kind: 'call'; id: number; request: Request } | { kind: 'close' }

/** Thread -> main thread. */
export type FromThread<Reply, Info> =
  /**
   * The thread is ready for calls; `info` is what its service's `start()` returned, `priority` what lowering
   * its CPU priority found (not-lowered for a thread that does not).
   */
  | { kind: 'started'; info: Info; priority: PriorityOutcome }
  /** The service could not start (a model the runtime cannot read); the thread exits after it. */
  | { kind: 'start-failed'; message: string }
  | { kind: 'reply'; id: number; reply: Reply }
  /** The service threw while handling call `id`. */
  | { kind: 'failed'; id: number; message: string }
