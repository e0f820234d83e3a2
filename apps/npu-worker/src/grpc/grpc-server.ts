import { Server, ServerCredentials } from '@grpc/grpc-js'
import type { FastifyInstance } from 'fastify'
import { loadInferenceService } from './inference-proto.js'
import { createInferenceHandlers } from './inference-service.js'

/** The lifecycle of the gRPC listener. */
type GrpcServerState =
  /** Created, not bound yet. */
  | { kind: 'idle' }
  /** Bound and serving on `port`. */
  | { kind: 'serving'; port: number }
  /** Shut down: no call is served any more. */
  | { kind: 'closed' }

/**
 * `inference.GRPCInferenceService` on its own port (`grpc_port`), serving the app's models through the same
 * scheduler, admission control, auth and metrics as REST. server.ts starts it after the HTTP listener and
 * drains it with the rest: while draining its RPCs answer UNAVAILABLE (NPU_ERR_NOT_SERVING), as REST answers
 * 503; once the scheduler is idle, {@link close} waits for calls still writing their answers.
 */
export class GrpcInferenceServer {
  readonly #server: Server
  #state: GrpcServerState = { kind: 'idle' }

  constructor(app: FastifyInstance) {
    const limit = app.workerConfig.body_limit_bytes
    // One size limit for both transports: a message over body_limit_bytes is refused as a body would be
    // (RESOURCE_EXHAUSTED), where grpc-js's own default (4 MiB) would refuse a 1x3x640x640 image.
    this.#server = new Server({
      'grpc.max_receive_message_length': limit,
      'grpc.max_send_message_length': -1,
    })
    this.#server.addService(loadInferenceService().service, createInferenceHandlers(app))
  }

  /** Binds `host:port` (insecure, like the HTTP listener) and starts serving; resolves with the bound port. */
  listen(host: string, port: number): Promise<number> {
    if (this.#state.kind !== 'idle') return Promise.reject(new Error(`gRPC server is ${this.#state.kind}`))
    const address = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
    return new Promise((resolve, reject) => {
      this.#server.bindAsync(address, ServerCredentials.createInsecure(), (error, bound) => {
        if (error) return reject(error)
        this.#state = { kind: 'serving', port: bound }
        resolve(bound)
      })
    })
  }

  /** The bound port, or null when not serving. */
  get port(): number | null {
    return this.#state.kind === 'serving' ? this.#state.port : null
  }

  /** Stops taking calls and lets the ones in flight finish, for at most `graceMs`, then cuts the rest. */
  async close(graceMs: number): Promise<void> {
    if (this.#state.kind === 'closed') return
    const wasServing = this.#state.kind === 'serving'
    this.#state = { kind: 'closed' }
    if (!wasServing) return
    let timer: NodeJS.Timeout | undefined
    await Promise.race([
      new Promise<void>((resolve) => this.#server.tryShutdown(() => resolve())),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, graceMs)
      }),
    ])
    clearTimeout(timer)
    this.#server.forceShutdown()
  }
}
