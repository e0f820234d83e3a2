import { type HealthResponse, HealthResponseSchema } from '@npu-fleet/protocol'
import { expect } from 'vitest'

/** One `/health` answer, as sampled. */
export interface HealthSample {
  http: number
  body: HealthResponse
}

/**
 * Polls a worker's `/health` every `intervalMs` until stopped, keeping every answer, so a test can check that
 * `/health` told the truth at every step of a transition, not only at its end. Each body is validated against
 * the protocol schema the pool parses.
 */
export class HealthPoller {
  readonly samples: HealthSample[] = []
  #running = true
  readonly #done: Promise<void>

  constructor(
    readonly url: string,
    intervalMs = 25,
  ) {
    this.#done = (async () => {
      while (this.#running) {
        try {
          const res = await fetch(`${url}/health`)
          this.samples.push({ http: res.status, body: HealthResponseSchema.parse(await res.json()) })
        } catch (error) {
          // The worker went away (the test stops it): the samples so far stand.
          if (this.#running && !/fetch failed|ECONNREFUSED|ECONNRESET/.test(String(error))) throw error
        }
        await new Promise((resolve) => setTimeout(resolve, intervalMs))
      }
    })()
  }

  /** The latest sample. */
  get last(): HealthSample | undefined {
    return this.samples.at(-1)
  }

  /** Waits until a sample satisfies `predicate` (checking samples taken from now on), and returns it. */
  async until(predicate: (sample: HealthSample) => boolean, timeoutMs = 60_000): Promise<HealthSample> {
    const from = this.samples.length
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const hit = this.samples.slice(from).find(predicate)
      if (hit) return hit
      if (Date.now() > deadline) {
        throw new Error(
          `no /health sample matched within ${timeoutMs} ms; last: ${JSON.stringify(this.last?.body.models)} ${this.last?.body.message}`,
        )
      }
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  }

  /** Stops polling; resolves once the last request is done. */
  async stop(): Promise<HealthSample[]> {
    this.#running = false
    await this.#done
    return this.samples
  }
}

/**
 * The invariants every `/health` answer keeps, whatever the moment: `ready` means ready or degraded; the load's
 * capacity is the live slots of the models that can serve; a worker serving nothing is unhealthy (503);
 * `capabilities.models` lists exactly the models that can serve.
 */
export function expectConsistent({ http, body }: HealthSample): void {
  for (const m of body.models) {
    expect(m.ready, `${m.name} ${m.state}`).toBe(m.state === 'ready' || m.state === 'degraded')
    if (m.state === 'recovering') expect(m.recovery).toBeTruthy()
    if (!['ready', 'loading', 'warming', 'unloading'].includes(m.state)) expect(m.reason).toBeTruthy()
  }
  const serving = body.models.filter((m) => m.ready)
  expect(body.load.capacity).toBe(serving.reduce((sum, m) => sum + (m.parallelism?.live ?? 0), 0))
  expect(body.capabilities.models).toEqual([...new Set(serving.map((m) => m.name))])
  if (body.status !== 'starting' && body.status !== 'draining') {
    if (serving.length === 0) expect(body.status).toBe('unhealthy')
    else expect(body.status).not.toBe('unhealthy')
  }
  expect(http).toBe(body.status === 'healthy' || body.status === 'degraded' ? 200 : 503)
}
