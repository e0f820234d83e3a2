import { type HealthResponse, HealthResponseSchema } from '@npu-fleet/protocol'
import type { Dispatcher } from 'undici'
import { describeNetworkError } from '../transport/network-error.js'

/** Outcome of one `GET /health`. */
export type HealthProbeResult =
  | { ok: true; health: HealthResponse; latencyMs: number }
  | {
      ok: false
      /** Why the worker does not count as up, in words (`connection refused`, `HTTP 503 (starting)`, ...). */
      reason: string
      /** The worker's own status when it answered with a valid health body (starting, draining, ...). */
      status: HealthResponse['status'] | null
      latencyMs: number
    }

// An impostor could answer with megabytes; a real health body is a few KiB.
const MAX_HEALTH_BODY_BYTES = 1 << 20

/**
 * Probes `GET {basePath}/health` through `client` with a timeout. Up only when the answer is 200 with a body
 * that validates against the protocol's health schema, says `service: "npu-worker"` and `healthy` or
 * `degraded`: a placeholder, another service or a bare 200 is down.
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
    const reason = controller.signal.aborted
      ? `no answer within ${timeoutMs} ms`
      : describeNetworkError(error)
    return { ok: false, reason, status: null, latencyMs: elapsed() }
  } finally {
    clearTimeout(timer)
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    return {
      ok: false,
      reason: `HTTP ${status} with a body that is not JSON`,
      status: null,
      latencyMs: elapsed(),
    }
  }
  const service = (json as { service?: unknown } | null)?.service
  if (service !== 'npu-worker') {
    const said =
      typeof service === 'string' ? `service ${JSON.stringify(service.slice(0, 64))}` : 'no service field'
    return {
      ok: false,
      reason: `HTTP ${status}: not an npu-worker (${said})`,
      status: null,
      latencyMs: elapsed(),
    }
  }
  const parsed = HealthResponseSchema.safeParse(json)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    const where = issue ? issue.path.join('.') : ''
    return {
      ok: false,
      reason: `HTTP ${status}: health body does not match the protocol (${where ? `${where}: ` : ''}${issue?.message ?? 'invalid'})`,
      status: null,
      latencyMs: elapsed(),
    }
  }
  const health = parsed.data
  if (status !== 200 || (health.status !== 'healthy' && health.status !== 'degraded')) {
    return {
      ok: false,
      reason: `HTTP ${status} (${health.status})`,
      status: health.status,
      latencyMs: elapsed(),
    }
  }
  return { ok: true, health, latencyMs: elapsed() }
}

async function readLimited(body: Dispatcher.ResponseData['body'], limit: number): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of body) {
    size += (chunk as Buffer).length
    if (size > limit) {
      body.destroy()
      throw new Error(`health body larger than ${limit} bytes`)
    }
    chunks.push(chunk as Buffer)
  }
  return Buffer.concat(chunks).toString('utf8')
}
