import { type OpenAiErrorBody, openAiErrorType, WorkerErrorCode } from '@npu-fleet/protocol'
import { errorDataOf } from '../error-data.js'

/** Route prefixes of the OpenAI-compatible API (`/v1/tasks` is the worker's own task API, with its own shape). */
const OPENAI_ROUTES = ['/v1/chat/completions', '/v1/completions', '/v1/embeddings', '/v1/models']

/**
 * True for a URL of the OpenAI-compatible API, whose errors take OpenAI's shape: its routes, and any other
 * `/v1/` path outside the task API (a mistyped OpenAI route gets an error its SDK can read).
 */
export function isOpenAiPath(url: string): boolean {
  const path = url.split('?')[0] ?? url
  if (OPENAI_ROUTES.some((route) => path === route || path.startsWith(`${route}/`))) return true
  return path.startsWith('/v1/') && !path.startsWith('/v1/tasks/') && path !== '/v1/tasks'
}

/** An error in OpenAI's shape: its message, the kind its status means, the parameter at fault, our stable code. */
export function openAiErrorBody(error: {
  message: string
  code?: string
  statusCode?: number
}): OpenAiErrorBody {
  const { param } = errorDataOf(error)
  return {
    error: {
      message: error.message,
      type: openAiErrorType(error.statusCode ?? 500),
      param: param ?? null,
      code: error.code ?? WorkerErrorCode.INTERNAL,
    },
  }
}
