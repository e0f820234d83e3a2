/** What an error tells the client beyond its code and message. */
export interface ErrorData {
  /** Seconds to wait before retrying: the `Retry-After` header (a `retry-after` trailer on gRPC). */
  readonly retryAfterSeconds?: number
  /** Structured detail for the error body's `details` (the task types available, the models a task uses). */
  readonly details?: Record<string, unknown>
  /** The request parameter at fault (OpenAI's `error.param`; the message names it too). */
  readonly param?: string
}

/**
 * Base of the catalogue errors whose constructors take data (errors.ts): whatever answers an error (the HTTP
 * error handler, the gRPC status mapping) reads it with {@link errorDataOf}, typed, never patched on.
 */
export class CarriesErrorData extends Error {
  declare readonly data: ErrorData
}

/** The data `error` carries, or none. */
export function errorDataOf(error: unknown): ErrorData {
  return error instanceof CarriesErrorData ? error.data : {}
}
