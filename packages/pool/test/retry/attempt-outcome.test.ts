import { describe, expect, it } from 'vitest'
import { classifyResponse, classifyTransportError } from '../../src/retry/attempt-outcome.js'
import { TransportError } from '../../src/transport/worker-transport.js'

const now = Date.parse('2026-01-01T00:00:00Z')
const respond = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  classifyResponse(
    { status, headers, text: typeof body === 'string' ? body : JSON.stringify(body) },
    (b) => ((b as { ok?: boolean }).ok ? b : null),
    () => now,
  )
const err = (code: string, message = 'x') => ({ error: message, code })

describe('classifyResponse', () => {
  it('accepts a 2xx body that validates, and retries one that does not (held against the worker)', () => {
    expect(respond(200, { ok: true })).toEqual({ kind: 'success', value: { ok: true } })
    expect(respond(200, { other: 1 })).toMatchObject({
      kind: 'retryable',
      reason: 'bad_response',
      countsAgainstWorker: true,
    })
    expect(respond(200, 'not json')).toMatchObject({ kind: 'retryable', reason: 'bad_response' })
  })

  it('returns 4xx bad input at once: not retried, not held against the worker', () => {
    expect(respond(400, err('NPU_ERR_BAD_INFER_REQUEST', 'inputs[0].shape: bad'))).toEqual({
      kind: 'rejected',
      status: 400,
      message: 'inputs[0].shape: bad',
      workerCode: 'NPU_ERR_BAD_INFER_REQUEST',
      details: null,
    })
    expect(respond(413, err('NPU_ERR_PAYLOAD_TOO_LARGE'))).toMatchObject({ kind: 'rejected', status: 413 })
    expect(respond(401, err('NPU_ERR_UNAUTHORIZED'))).toMatchObject({ kind: 'rejected', status: 401 })
    expect(respond(404, err('NPU_ERR_VERSION_NOT_FOUND'))).toMatchObject({ kind: 'rejected' })
    expect(
      respond(400, { error: 'x', code: 'NPU_ERR_BAD_TASK_INPUT', details: { field: 'image' } }),
    ).toMatchObject({
      details: { field: 'image' },
    })
  })

  it('retries 5xx against the worker, and 503 queue-full / 429 as back-pressure honouring Retry-After', () => {
    expect(respond(500, err('NPU_ERR_INFERENCE_FAILED'))).toMatchObject({
      kind: 'retryable',
      reason: 'server_error',
      countsAgainstWorker: true,
      retryAfterMs: null,
    })
    expect(respond(502, '<html>bad gateway</html>')).toMatchObject({
      reason: 'server_error',
      message: 'HTTP 502 (body is not JSON)',
    })
    expect(respond(503, err('NPU_ERR_QUEUE_FULL'), { 'retry-after': '3' })).toMatchObject({
      reason: 'overloaded',
      countsAgainstWorker: false,
      retryAfterMs: 3000,
    })
    expect(respond(429, {}, { 'retry-after': 'Thu, 01 Jan 2026 00:00:05 GMT' })).toMatchObject({
      reason: 'overloaded',
      retryAfterMs: 5000,
    })
    expect(respond(429, {})).toMatchObject({ reason: 'overloaded', retryAfterMs: 1000 })
    expect(respond(503, err('NPU_ERR_NOT_SERVING'))).toMatchObject({
      reason: 'not_serving',
      countsAgainstWorker: false,
      recheckHealth: true,
    })
    expect(respond(503, 'Service Unavailable')).toMatchObject({
      reason: 'server_error',
      countsAgainstWorker: true,
    })
    expect(respond(504, err('NPU_ERR_DEADLINE_EXCEEDED'))).toMatchObject({
      reason: 'timeout',
      countsAgainstWorker: true,
    })
  })

  it('treats a 404 for a task or model the worker listed as stale capabilities: retry elsewhere, re-check health', () => {
    expect(respond(404, err('NPU_ERR_TASK_NOT_FOUND'))).toMatchObject({
      kind: 'retryable',
      reason: 'capability',
      countsAgainstWorker: false,
      recheckHealth: true,
    })
    expect(respond(404, err('NPU_ERR_ROUTE_NOT_FOUND'))).toMatchObject({ kind: 'rejected' })
  })
})

describe('classifyTransportError', () => {
  it('separates connection failures, attempt timeouts, deadline timeouts and caller aborts', () => {
    expect(classifyTransportError(new TransportError('connection', 'refused'), false)).toMatchObject({
      kind: 'retryable',
      reason: 'connection',
      countsAgainstWorker: true,
    })
    expect(classifyTransportError(new TransportError('timeout', 'slow'), false)).toMatchObject({
      reason: 'timeout',
      countsAgainstWorker: true,
    })
    expect(classifyTransportError(new TransportError('timeout', 'slow'), true)).toEqual({
      kind: 'deadline',
      message: 'slow',
    })
    expect(classifyTransportError(new TransportError('aborted', 'bye'), false)).toEqual({ kind: 'aborted' })
  })
})
