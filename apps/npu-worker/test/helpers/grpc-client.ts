import { createServer } from 'node:net'
import {
  type Client,
  credentials,
  type GrpcObject,
  loadPackageDefinition,
  Metadata,
  type ServiceClientConstructor,
  type ServiceError,
} from '@grpc/grpc-js'
import { loadSync } from '@grpc/proto-loader'
import { OPEN_INFERENCE_PROTO_PATH } from '@npu-fleet/protocol'

/** A free loopback port, from the kernel (for `--grpc-port`, where 0 means "off"). */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

/** What one call returned: the response, or the gRPC error with its trailers. */
export type CallResult<T> = { ok: true; response: T } | { ok: false; error: ServiceError }

/** Options of one call. */
export interface CallOptions {
  /** Milliseconds from now: the call's gRPC deadline. */
  deadlineMs?: number
  /** Sent as `authorization` metadata. */
  authorization?: string
  /** Cancels the call when aborted. */
  signal?: AbortSignal
}

/**
 * A client of `inference.GRPCInferenceService` built from the protocol package's .proto with
 * @grpc/grpc-js and @grpc/proto-loader, as any client would build one (nothing from the worker's src/).
 * Messages with int64 as strings and bytes as Buffers.
 */
export class InferenceClient {
  readonly #client: Client & Record<string, unknown>

  constructor(address: string) {
    const definition = loadSync(OPEN_INFERENCE_PROTO_PATH, {
      keepCase: true,
      longs: String,
      enums: String,
      defaults: true,
      arrays: true,
      oneofs: true,
    })
    const inference = loadPackageDefinition(definition).inference as GrpcObject
    const Service = inference.GRPCInferenceService as ServiceClientConstructor
    // Large messages both ways: the worker's limit is its body limit, not grpc-js's 4 MiB default.
    this.#client = new Service(address, credentials.createInsecure(), {
      'grpc.max_receive_message_length': -1,
      'grpc.max_send_message_length': -1,
    }) as Client & Record<string, unknown>
  }

  /** Calls `method` with `request`; resolves with the response or the error, never rejects. */
  call<T = Record<string, unknown>>(
    method: string,
    request: object,
    options: CallOptions = {},
  ): Promise<CallResult<T>> {
    const metadata = new Metadata()
    if (options.authorization) metadata.set('authorization', options.authorization)
    const callOptions = options.deadlineMs === undefined ? {} : { deadline: Date.now() + options.deadlineMs }
    return new Promise((resolve) => {
      const fn = this.#client[method] as (
        request: object,
        metadata: Metadata,
        options: object,
        callback: (error: ServiceError | null, response: T) => void,
      ) => { cancel(): void }
      const call = fn.call(this.#client, request, metadata, callOptions, (error, response) =>
        resolve(error ? { ok: false, error } : { ok: true, response }),
      )
      options.signal?.addEventListener('abort', () => call.cancel(), { once: true })
    })
  }

  /** Closes the channel. */
  close(): void {
    this.#client.close()
  }
}
