import createError from '@fastify/error'
import { WorkerErrorCode as Code, type WorkerErrorCode } from '@npu-fleet/protocol'
import { CarriesErrorData, type ErrorData } from './error-data.js'

// The worker's error catalogue: every error a client can see, with its stable code (from @npu-fleet/protocol,
// which the pool matches on) and HTTP status. The route error handler turns any of these into
// `{ "error": message, "code": code, "details"? }`; gRPC maps them onto status codes (grpc/grpc-status.ts).
// Messages use %s placeholders (util.format); name the offending field in them. Errors that carry data for
// the client (Retry-After, details) take it in their constructors (error-data.ts).
// Documented as a table in apps/npu-worker/README.md: keep both in step.

/** 400: the body is not valid JSON or not an object. */
export const ErrMalformedBody = createError(Code.MALFORMED_BODY, 'Malformed request body: %s', 400)
/** 400: a KServe request field is wrong (shape, datatype, length, unknown input, parameter...). */
export const ErrBadInferRequest = createError(Code.BAD_INFER_REQUEST, '%s', 400)
/** 400: a task input failed its schema; the message names the field. */
export const ErrBadTaskInput = createError(Code.BAD_TASK_INPUT, '%s', 400)
/** 400: a model name or version is not a plain identifier (path tricks). */
export const ErrBadModelName = createError(Code.BAD_MODEL_NAME, 'Invalid model name or version: %s', 400)
/** 400: an image could not be decoded. */
export const ErrBadImage = createError(Code.BAD_IMAGE, 'Cannot decode image: %s', 400)
// @fastify/error only takes the prototype of its Base (it never calls it), but types it as the callable
// ErrorConstructor: hence the one cast.
const DataBase = CarriesErrorData as unknown as ErrorConstructor

/** 400: a repository load could not use the model's folder or model.yaml (the message names the key), or no version loaded. */
export const ErrModelLoadFailed = createError(Code.MODEL_LOAD_FAILED, 'Model %s failed to load: %s', 400)
/** 409: repository load and unload are off (`model_control: none`). */
export const ErrModelControlDisabled = createError(
  Code.MODEL_CONTROL_DISABLED,
  'Model control is off (model_control: none); set model_control: explicit or poll to %s models',
  409,
)

/** 401: missing or wrong bearer token. */
export const ErrUnauthorized = createError(Code.UNAUTHORIZED, 'Missing or invalid bearer token', 401)

const ModelNotFound = createError<[what: string]>(Code.MODEL_NOT_FOUND, 'Model not found: %s', 404, DataBase)
/** 404: no such model; `models` (when given) lists the ones that would do, in `details.models`. */
export class ErrModelNotFound extends ModelNotFound {
  readonly data: ErrorData
  constructor(what: string, models?: readonly string[]) {
    super(what)
    this.data = models ? { details: { models: [...models] } } : {}
  }
}

/** 404: no such version of a model. */
export const ErrVersionNotFound = createError(Code.VERSION_NOT_FOUND, 'Model %s has no version %s', 404)

const TaskNotFound = createError<[type: string, available: string]>(
  Code.TASK_NOT_FOUND,
  'Unknown task type %s; available: %s',
  404,
  DataBase,
)
/** 404: no such task type; the message and `details.available` list the types that are. */
export class ErrTaskNotFound extends TaskNotFound {
  readonly data: ErrorData
  constructor(type: string, available: readonly string[]) {
    super(type, available.length > 0 ? available.join(', ') : 'none')
    this.data = { details: { available: [...available] } }
  }
}

/** 404: no such route. */
export const ErrRouteNotFound = createError(Code.ROUTE_NOT_FOUND, 'Route %s %s not found', 404)
/** 413: body over the configured limit. */
export const ErrPayloadTooLarge = createError(
  Code.PAYLOAD_TOO_LARGE,
  'Request body is larger than %s bytes',
  413,
)
/** 413: image over the configured pixel limit. */
export const ErrImageTooLarge = createError(
  Code.IMAGE_TOO_LARGE,
  'Image %s exceeds the limit of %s pixels',
  413,
)
/** 415: unsupported content type. */
export const ErrUnsupportedMediaType = createError(
  Code.UNSUPPORTED_MEDIA_TYPE,
  'Unsupported content type: %s',
  415,
)
/** 499-like: the client went away; never sent, used to cancel queued work. */
export const ErrCancelled = createError(Code.CANCELLED, 'Request cancelled by the client', 499)

const ModelNotReady = createError<[model: string, why: string]>(
  Code.MODEL_NOT_READY,
  'Model %s is not ready (%s)',
  503,
  DataBase,
)
/** 503: the model is loading, recovering, failed, or unloading; `retryAfterSeconds` while it recovers. */
export class ErrModelNotReady extends ModelNotReady {
  readonly data: ErrorData
  constructor(model: string, why: string, retryAfterSeconds?: number) {
    super(model, why)
    this.data = retryAfterSeconds === undefined ? {} : { retryAfterSeconds }
  }
}

// No stack trace: load shedding is not a fault, and under a flood of refusals capturing one was ~40 µs each
// on the event loop.
const QueueFull = createError<[model: string, queued: number]>(
  Code.QUEUE_FULL,
  'Model %s is at capacity (%s queued); retry later',
  503,
  DataBase,
  false,
)
/** 503: the model's queue is full; `retryAfterSeconds` is the queue's estimate of when it has room. */
export class ErrQueueFull extends QueueFull {
  readonly data: ErrorData
  constructor(model: string, queued: number, retryAfterSeconds: number) {
    super(model, queued)
    this.data = { retryAfterSeconds }
  }
}

/** 503: the worker is starting or draining. */
export const ErrNotServing = createError(Code.NOT_SERVING, 'Worker is %s', 503)
/** 504: the request's deadline passed before it finished. */
export const ErrDeadlineExceeded = createError(Code.DEADLINE_EXCEEDED, 'Deadline of %s ms exceeded', 504)
/** 504: the native inference passed the model's hard limit (`inference_timeout_ms`); its slot is recycled. */
export const ErrInferenceTimeout = createError(
  Code.INFERENCE_TIMEOUT,
  'Inference on %s did not finish within its hard limit of %s ms; its slot is being recycled',
  504,
)
/** 500: the runtime failed while running a valid request. Never answered with made-up output. */
export const ErrInferenceFailed = createError(Code.INFERENCE_FAILED, 'Inference failed on %s: %s', 500)
/** 500: anything unexpected; the log has the stack. */
export const ErrInternal = createError(Code.INTERNAL, 'Internal error', 500)
/** 400: a request HTTP itself rejects before any route (bad URL encoding, bad header); the message says what. */
export const ErrBadRequest = createError(Code.BAD_REQUEST, 'Bad request: %s', 400)

// Errors that name the request parameter at fault, in `data.param`: the OpenAI routes answer it as `error.param`.

/** A 400 error class whose constructor takes the parameter at fault and the message (which names it too). */
function parameterError(code: WorkerErrorCode) {
  const Base = createError<[message: string]>(code, '%s', 400, DataBase)
  return class extends Base {
    readonly data: ErrorData
    constructor(param: string, message: string) {
      super(message)
      this.data = { param }
    }
  }
}

/** 400: a generation request parameter is missing, out of range or of the wrong type. */
export const ErrInvalidParameter = parameterError(Code.INVALID_PARAMETER)
/** 400: a request parameter this worker does not implement (`n` > 1, `logprobs`, `tools`...); never ignored. */
export const ErrUnsupportedParameter = parameterError(Code.UNSUPPORTED_PARAMETER)
/** 400: the prompt and `max_tokens` together do not fit the model's context length. */
export const ErrContextLengthExceeded = parameterError(Code.CONTEXT_LENGTH_EXCEEDED)
/** 400: the prompt is longer than the NPU pipeline's `MAX_PROMPT_LEN` (GenAI answers garbled text past it). */
export const ErrPromptTooLong = parameterError(Code.PROMPT_TOO_LONG)
/** 400: the model's chat template refused the messages (its own `raise_exception`, a role it does not know). */
export const ErrTemplateFailed = parameterError(Code.TEMPLATE_FAILED)
