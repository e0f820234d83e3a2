/**
 * Every stable error code a worker answers with (`ErrorBody.code`, and the `npu-error-code` trailer of a gRPC
 * status). The worker builds its error catalogue from these and the pool matches on them, so a renamed code
 * breaks the build of both sides instead of silently changing the pool's retry decisions.
 */
export const WorkerErrorCode = {
  /** 400: the body is not valid JSON, empty, or not an object. */
  MALFORMED_BODY: 'NPU_ERR_MALFORMED_BODY',
  /** 400: a KServe request field is wrong (shape, datatype, length, unknown input or output, parameter). */
  BAD_INFER_REQUEST: 'NPU_ERR_BAD_INFER_REQUEST',
  /** 400: a task input failed its schema. */
  BAD_TASK_INPUT: 'NPU_ERR_BAD_TASK_INPUT',
  /** 400: a model name or version is not a plain identifier. */
  BAD_MODEL_NAME: 'NPU_ERR_BAD_MODEL_NAME',
  /** 400: an image could not be decoded. */
  BAD_IMAGE: 'NPU_ERR_BAD_IMAGE',
  /** 400: a problem HTTP itself rejects before any route (undecodable URL, bad header). */
  BAD_REQUEST: 'NPU_ERR_BAD_REQUEST',
  /** 400: a generation request parameter is missing, out of range or of the wrong type. */
  INVALID_PARAMETER: 'NPU_ERR_INVALID_PARAMETER',
  /** 400: a request parameter the worker does not implement (never silently ignored). */
  UNSUPPORTED_PARAMETER: 'NPU_ERR_UNSUPPORTED_PARAMETER',
  /** 400: the prompt and `max_tokens` together do not fit the model's context length. */
  CONTEXT_LENGTH_EXCEEDED: 'NPU_ERR_CONTEXT_LENGTH_EXCEEDED',
  /** 400: the prompt is longer than the NPU pipeline's `MAX_PROMPT_LEN`. */
  PROMPT_TOO_LONG: 'NPU_ERR_PROMPT_TOO_LONG',
  /** 400: the model's chat template refused the messages. */
  TEMPLATE_FAILED: 'NPU_ERR_TEMPLATE_FAILED',
  /** 400: a repository load found the model's folder or model.yaml unusable, or no version of it could load. */
  MODEL_LOAD_FAILED: 'NPU_ERR_MODEL_LOAD_FAILED',
  /** 401: missing or wrong bearer token. */
  UNAUTHORIZED: 'NPU_ERR_UNAUTHORIZED',
  /** 404: no such model. */
  MODEL_NOT_FOUND: 'NPU_ERR_MODEL_NOT_FOUND',
  /** 404: no such version of a model. */
  VERSION_NOT_FOUND: 'NPU_ERR_VERSION_NOT_FOUND',
  /** 404: no such task type. */
  TASK_NOT_FOUND: 'NPU_ERR_TASK_NOT_FOUND',
  /** 404: no such route. */
  ROUTE_NOT_FOUND: 'NPU_ERR_ROUTE_NOT_FOUND',
  /** 409: a repository load or unload while `model_control` is `none` (the default). */
  MODEL_CONTROL_DISABLED: 'NPU_ERR_MODEL_CONTROL_DISABLED',
  /** 413: body over the worker's limit. */
  PAYLOAD_TOO_LARGE: 'NPU_ERR_PAYLOAD_TOO_LARGE',
  /** 413: image over the pixel limit. */
  IMAGE_TOO_LARGE: 'NPU_ERR_IMAGE_TOO_LARGE',
  /** 415: a content type the route does not take. */
  UNSUPPORTED_MEDIA_TYPE: 'NPU_ERR_UNSUPPORTED_MEDIA_TYPE',
  /** The client went away (never sent over HTTP; gRPC reports it as CANCELLED). */
  CANCELLED: 'NPU_ERR_CANCELLED',
  /** 503: the model is loading, recovering, failed or unloading. */
  MODEL_NOT_READY: 'NPU_ERR_MODEL_NOT_READY',
  /** 503: the model's queue is full; Retry-After says when to retry. */
  QUEUE_FULL: 'NPU_ERR_QUEUE_FULL',
  /** 503: the worker is starting or draining. */
  NOT_SERVING: 'NPU_ERR_NOT_SERVING',
  /** 504: the request's deadline passed. */
  DEADLINE_EXCEEDED: 'NPU_ERR_DEADLINE_EXCEEDED',
  /** 504: the native inference passed the model's hard limit; its slot is recycled. */
  INFERENCE_TIMEOUT: 'NPU_ERR_INFERENCE_TIMEOUT',
  /** 500: the runtime failed on a valid request. */
  INFERENCE_FAILED: 'NPU_ERR_INFERENCE_FAILED',
  /** 500: anything unexpected. */
  INTERNAL: 'NPU_ERR_INTERNAL',
} as const

/** One of the stable `NPU_ERR_*` codes. */
export type WorkerErrorCode = (typeof WorkerErrorCode)[keyof typeof WorkerErrorCode]
