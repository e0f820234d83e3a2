import createError from '@fastify/error'

// The worker's error catalogue: every error a client can see, with a stable code and HTTP status.
// The route error handler turns any of these into `{ "error": message, "code": code }`.
// Messages use %s placeholders (util.format); name the offending field in them.
// Documented as a table in apps/npu-worker/README.md: keep both in step.

/** 400: the body is not valid JSON or not an object. */
export const ErrMalformedBody = createError('NPU_ERR_MALFORMED_BODY', 'Malformed request body: %s', 400)
/** 400: a KServe request field is wrong (shape, datatype, length, unknown input...). */
export const ErrBadInferRequest = createError('NPU_ERR_BAD_INFER_REQUEST', '%s', 400)
/** 400: a task input failed its schema; the message names the field. */
export const ErrBadTaskInput = createError('NPU_ERR_BAD_TASK_INPUT', '%s', 400)
/** 400: a model name or version is not a plain identifier (path tricks). */
export const ErrBadModelName = createError('NPU_ERR_BAD_MODEL_NAME', 'Invalid model name or version: %s', 400)
/** 400: an image could not be decoded. */
export const ErrBadImage = createError('NPU_ERR_BAD_IMAGE', 'Cannot decode image: %s', 400)
/** 401: missing or wrong bearer token. */
export const ErrUnauthorized = createError('NPU_ERR_UNAUTHORIZED', 'Missing or invalid bearer token', 401)
/** 404: no such model. */
export const ErrModelNotFound = createError('NPU_ERR_MODEL_NOT_FOUND', 'Model not found: %s', 404)
/** 404: no such version of a model. */
export const ErrVersionNotFound = createError('NPU_ERR_VERSION_NOT_FOUND', 'Model %s has no version %s', 404)
/** 404: no such task type. */
export const ErrTaskNotFound = createError(
  'NPU_ERR_TASK_NOT_FOUND',
  'Unknown task type %s; available: %s',
  404,
)
/** 404: no such route. */
export const ErrRouteNotFound = createError('NPU_ERR_ROUTE_NOT_FOUND', 'Route %s %s not found', 404)
/** 413: body over the configured limit. */
export const ErrPayloadTooLarge = createError(
  'NPU_ERR_PAYLOAD_TOO_LARGE',
  'Request body is larger than %s bytes',
  413,
)
/** 413: image over the configured pixel limit. */
export const ErrImageTooLarge = createError(
  'NPU_ERR_IMAGE_TOO_LARGE',
  'Image %s exceeds the limit of %s pixels',
  413,
)
/** 415: unsupported content type. */
export const ErrUnsupportedMediaType = createError(
  'NPU_ERR_UNSUPPORTED_MEDIA_TYPE',
  'Unsupported content type: %s',
  415,
)
/** 499-like: the client went away; never sent, used to cancel queued work. */
export const ErrCancelled = createError('NPU_ERR_CANCELLED', 'Request cancelled by the client', 499)
/** 503: the model is loading, recovering, failed, or unloading (Retry-After while recovering). */
export const ErrModelNotReady = createError('NPU_ERR_MODEL_NOT_READY', 'Model %s is not ready (%s)', 503)
/** 503: the model's queue is full; the reply carries Retry-After. */
export const ErrQueueFull = createError(
  'NPU_ERR_QUEUE_FULL',
  'Model %s is at capacity (%s queued); retry later',
  503,
)
/** 503: the worker is starting or draining. */
export const ErrNotServing = createError('NPU_ERR_NOT_SERVING', 'Worker is %s', 503)
/** 504: the request's deadline passed before it finished. */
export const ErrDeadlineExceeded = createError('NPU_ERR_DEADLINE_EXCEEDED', 'Deadline of %s ms exceeded', 504)
/** 504: the native inference passed the model's hard limit (`inference_timeout_ms`); its slot is recycled. */
export const ErrInferenceTimeout = createError(
  'NPU_ERR_INFERENCE_TIMEOUT',
  'Inference on %s did not finish within its hard limit of %s ms; its slot is being recycled',
  504,
)
/** 500: the runtime failed while running a valid request. Never answered with made-up output. */
export const ErrInferenceFailed = createError('NPU_ERR_INFERENCE_FAILED', 'Inference failed on %s: %s', 500)
/** 500: anything unexpected; the log has the stack. */
export const ErrInternal = createError('NPU_ERR_INTERNAL', 'Internal error', 500)
/** 400: a request HTTP itself rejects before any route (bad URL encoding, bad header); the message says what. */
export const ErrBadRequest = createError('NPU_ERR_BAD_REQUEST', 'Bad request: %s', 400)

// Errors that name the request parameter at fault: the OpenAI routes return it as `error.param`.

/** 400: a generation request parameter is missing, out of range or of the wrong type; `param` names it. */
export class ErrInvalidParameter extends createError('NPU_ERR_INVALID_PARAMETER', '%s', 400) {
  constructor(
    readonly param: string,
    message: string,
  ) {
    super(message)
  }
}
/** 400: a request parameter this worker does not implement (`n` > 1, `logprobs`, `tools`...); never ignored. */
export class ErrUnsupportedParameter extends createError('NPU_ERR_UNSUPPORTED_PARAMETER', '%s', 400) {
  constructor(
    readonly param: string,
    message: string,
  ) {
    super(message)
  }
}
/** 400: the prompt and `max_tokens` together do not fit the model's context length. */
export class ErrContextLengthExceeded extends createError('NPU_ERR_CONTEXT_LENGTH_EXCEEDED', '%s', 400) {
  constructor(
    readonly param: string,
    message: string,
  ) {
    super(message)
  }
}
/** 400: the prompt is longer than the NPU pipeline's `MAX_PROMPT_LEN` (GenAI answers garbled text past it). */
export class ErrPromptTooLong extends createError('NPU_ERR_PROMPT_TOO_LONG', '%s', 400) {
  constructor(
    readonly param: string,
    message: string,
  ) {
    super(message)
  }
}
/** 400: the model's chat template refused the messages (its own `raise_exception`, a role it does not know). */
export class ErrTemplateFailed extends createError('NPU_ERR_TEMPLATE_FAILED', '%s', 400) {
  constructor(
    readonly param: string,
    message: string,
  ) {
    super(message)
  }
}
