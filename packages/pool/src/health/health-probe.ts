import { type HealthResponse, HealthResponseSchema, SUPPORTED_PROTOCOL_VERSIONS } from '@npu-fleet/protocol'
import type { Dispatcher } from 'undici'
import { describeNetworkError } from '../transport/network-error.js'

/**
 * Outcome of one `GET /health`, by what it tells the pool about the worker:
 * - `serving`: a compatible npu-worker that says it serves (200, `healthy` or `degraded`);
 * - `not_serving`: a compatible npu-worker that says it does not (503 `starting`, `draining`, `unhealthy`);
 * - `incompatible`: something answered, but not as an npu-worker this pool can speak to (another service, a
 *   placeholder page, a body off the protocol, a `protocol_version` absent or not supported);
 * - `silent`: no answer within the timeout (the listener is there, or was: the thresholds decide);
 * - `unreachable`: no listener (connection refused, reset, host not found): whoever listens next must prove
 *   itself before it gets a request (or the token).
 */
export type HealthProbeResult =
  | { kind: 'serving'; health: HealthResponse; latencyMs: number }
  | { kind: 'not_serving'; health: HealthResponse; reason: string; latencyMs: number }
  | { kind: 'incompatible'; reason: string; latencyMs: number }
  | { kind: 'silent'; reason: string; latencyMs: number }
  | { kind: 'unreachable'; reason: string; latencyMs: number }

// An impostor could answer with megabytes; a real health body is a few KiB.
const MAX_HEALTH_BODY_BYTES = 1 << 20
const SPOKEN = SUPPORTED_PROTOCOL_VERSIONS.join(', ')

class BodyTooLarge extends Error {}

/**
 * Probes `GET {basePath}/health` through `client` with a timeout. Serving only when the answer is 200 with a
 * body that validates against the protocol's health schema, says `service: "npu-worker"`, states a
 * `protocol_version` this pool supports, and `healthy` or `degraded`: a placeholder, another service, an older
 * or newer protocol, or a bare 200 is not.
 */
export async function probeHealth(
  client: Dispatcher,
  basePath: string,
  timeoutMs: number,
): Promise<HealthProbeResult> {
  const started = performance.now()
  const elapsed = () => performance.now() - started
  const controller = new AbortController()
  const timer = setTimeout(() => controller.abort(), timeoutMs)
  let status: number
  let text: string
  try {
    const response = await client.request({
      path: `${basePath}/health`,
      method: 'GET',
      headers: { accept: 'application/json' },
      signal: controller.signal,
    })
    status = response.statusCode
    text = await readLimited(response.body, MAX_HEALTH_BODY_BYTES)
  } catch (error) {
    if (error instanceof BodyTooLarge) {
      return { kind: 'incompatible', reason: error.message, latencyMs: elapsed() }
    }
    if (controller.signal.aborted) {
      return { kind: 'silent', reason: `no answer within ${timeoutMs} ms`, latencyMs: elapsed() }
    }
    return { kind: 'unreachable', reason: describeNetworkError(error), latencyMs: elapsed() }
  } finally {
    clearTimeout(timer)
  }
  const incompatible = (reason: string): HealthProbeResult => ({
    kind: 'incompatible',
    reason,
    latencyMs: elapsed(),
  })
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    return incompatible(`HTTP ${status} with a body that is not JSON`)
  }
  const service = (json as { service?: unknown } | null)?.service
  if (service !== 'npu-worker') {
    const said =
      typeof service === 'string' ? `service ${JSON.stringify(service.slice(0, 64))}` : 'no service field'
    return incompatible(`HTTP ${status}: not an npu-worker (${said})`)
  }
  const parsed = HealthResponseSchema.safeParse(json)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    const where = issue ? issue.path.join('.') : ''
    return incompatible(
      `HTTP ${status}: health body does not match the protocol (${where ? `${where}: ` : ''}${issue?.message ?? 'invalid'})`,
    )
  }
  const health = parsed.data
  const version = health.protocol_version
  if (version === undefined) {
    return incompatible(
      `HTTP ${status}: no protocol_version (an npu-worker older than the field); this pool speaks protocol ${SPOKEN}`,
    )
  }
  if (!SUPPORTED_PROTOCOL_VERSIONS.includes(version)) {
    return incompatible(`HTTP ${status}: protocol_version ${version} is not one this pool speaks (${SPOKEN})`)
  }
  if (status !== 200 || (health.status !== 'healthy' && health.status !== 'degraded')) {
    return { kind: 'not_serving', health, reason: `HTTP ${status} (${health.status})`, latencyMs: elapsed() }
  }
  return { kind: 'serving', health, latencyMs: elapsed() }
}

async function readLimited(body: Dispatcher.ResponseData['body'], limit: number): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of body) {
    size += (chunk as Buffer).length
    if (size > limit) {
      body.destroy()
      throw new BodyTooLarge(`health body larger than ${limit} bytes`)
    }
    chunks.push(chunk as Buffer)
  }
  return Buffer.concat(chunks).toString('utf8')
}
