import fp from 'fastify-plugin'

/** Process-level serving state: starting (models loading), serving, draining (shutting down). */
export type LifecycleState = 'starting' | 'serving' | 'draining'

/** Tracks the worker's serving state and when it started. */
export class Lifecycle {
  state: LifecycleState = 'starting'
  readonly startedAt = Date.now()
  /** When draining began (ms since the epoch); null before. */
  drainingSince: number | null = null

  /** Models finished loading (whatever their outcome). */
  markServing(): void {
    if (this.state === 'starting') this.state = 'serving'
  }
  /** Shutdown began: health turns 503 and new inference is refused. */
  markDraining(): void {
    if (this.state !== 'draining') this.drainingSince = Date.now()
    this.state = 'draining'
  }
  /** Seconds since the process built its app. */
  get uptimeSeconds(): number {
    return (Date.now() - this.startedAt) / 1000
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    lifecycle: Lifecycle
  }
}

/** Decorates `app.lifecycle`. */
export default fp(
  async (app) => {
    app.decorate('lifecycle', new Lifecycle())
  },
  { name: 'lifecycle', fastify: '5.x' },
)
