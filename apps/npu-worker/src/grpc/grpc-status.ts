import { Metadata, type StatusObject, status } from '@grpc/grpc-js'
import { GRPC_ERROR_CODE_METADATA, WorkerErrorCode } from '@npu-fleet/protocol'
import { errorDataOf } from '../error-data.js'

/**
 * The gRPC status of every worker error code, the way Triton maps its errors (invalid argument, not found,
 * unavailable, internal; grpc_utils TritonCodeToGrpcCode), plus the codes Triton has no counterpart for:
 * a missing token is UNAUTHENTICATED, the client's own deadline DEADLINE_EXCEEDED, a cancelled call CANCELLED.
 * The hard limit of a native inference is UNAVAILABLE: the slot is being recycled and a retry can succeed.
 */
export const GRPC_STATUS_OF: Readonly<Record<WorkerErrorCode, status>> = {
  [WorkerErrorCode.MALFORMED_BODY]: status.INVALID_ARGUMENT,
  [WorkerErrorCode.BAD_INFER_REQUEST]: status.INVALID_ARGUMENT,
  [WorkerErrorCode.BAD_TASK_INPUT]: status.INVALID_ARGUMENT,
  [WorkerErrorCode.BAD_MODEL_NAME]: status.INVALID_ARGUMENT,
  [WorkerErrorCode.BAD_IMAGE]: status.INVALID_ARGUMENT,
  [WorkerErrorCode.BAD_REQUEST]: status.INVALID_ARGUMENT,
  // The generation parameters' codes: no gRPC route generates text today; mapped so one never falls to INTERNAL.
  [WorkerErrorCode.INVALID_PARAMETER]: status.INVALID_ARGUMENT,
  [WorkerErrorCode.UNSUPPORTED_PARAMETER]: status.INVALID_ARGUMENT,
  [WorkerErrorCode.CONTEXT_LENGTH_EXCEEDED]: status.INVALID_ARGUMENT,
  [WorkerErrorCode.PROMPT_TOO_LONG]: status.INVALID_ARGUMENT,
  [WorkerErrorCode.TEMPLATE_FAILED]: status.INVALID_ARGUMENT,
  [WorkerErrorCode.MODEL_LOAD_FAILED]: status.INVALID_ARGUMENT,
  [WorkerErrorCode.UNAUTHORIZED]: status.UNAUTHENTICATED,
  [WorkerErrorCode.MODEL_NOT_FOUND]: status.NOT_FOUND,
  [WorkerErrorCode.VERSION_NOT_FOUND]: status.NOT_FOUND,
  [WorkerErrorCode.TASK_NOT_FOUND]: status.NOT_FOUND,
  [WorkerErrorCode.ROUTE_NOT_FOUND]: status.UNIMPLEMENTED,
  [WorkerErrorCode.MODEL_CONTROL_DISABLED]: status.FAILED_PRECONDITION,
  [WorkerErrorCode.PAYLOAD_TOO_LARGE]: status.RESOURCE_EXHAUSTED,
  [WorkerErrorCode.IMAGE_TOO_LARGE]: status.INVALID_ARGUMENT,
  [WorkerErrorCode.UNSUPPORTED_MEDIA_TYPE]: status.INVALID_ARGUMENT,
  [WorkerErrorCode.CANCELLED]: status.CANCELLED,
  [WorkerErrorCode.MODEL_NOT_READY]: status.UNAVAILABLE,
  [WorkerErrorCode.QUEUE_FULL]: status.UNAVAILABLE,
  [WorkerErrorCode.NOT_SERVING]: status.UNAVAILABLE,
  [WorkerErrorCode.DEADLINE_EXCEEDED]: status.DEADLINE_EXCEEDED,
  [WorkerErrorCode.INFERENCE_TIMEOUT]: status.UNAVAILABLE,
  [WorkerErrorCode.INFERENCE_FAILED]: status.INTERNAL,
  [WorkerErrorCode.INTERNAL]: status.INTERNAL,
}

const CODES = new Set<string>(Object.values(WorkerErrorCode))

/** The worker error code an error carries, or null for anything else (a bug). */
export function workerCodeOf(error: unknown): WorkerErrorCode | null {
  const code = (error as { code?: unknown } | null)?.code
  return typeof code === 'string' && CODES.has(code) ? (code as WorkerErrorCode) : null
}

/**
 * The gRPC error for a worker error: its status, its message as the details, and in the trailers its
 * `npu-error-code` and, when it has one, its `retry-after` (seconds), as the REST answer's header says.
 */
export function grpcErrorOf(code: WorkerErrorCode, message: string, error?: unknown): Partial<StatusObject> {
  const metadata = new Metadata()
  metadata.set(GRPC_ERROR_CODE_METADATA, code)
  const { retryAfterSeconds } = errorDataOf(error)
  if (retryAfterSeconds !== undefined) metadata.set('retry-after', String(retryAfterSeconds))
  return { code: GRPC_STATUS_OF[code], details: message, metadata }
}
