import { pino } from 'pino'

/** The logger the pool writes to: pino's call shape (`logger.info(obj, msg)`), so Fastify's `app.log` fits. */
export interface PoolLogger {
  debug(obj: object, msg?: string): void
  info(obj: object, msg?: string): void
  warn(obj: object, msg?: string): void
  error(obj: object, msg?: string): void
}

/** The default logger: pino JSON lines on stdout, level from `NPU_POOL_LOG_LEVEL` (default `info`). */
export function createDefaultLogger(env: NodeJS.ProcessEnv = process.env): PoolLogger {
  return pino({ name: 'npu-pool', level: env.NPU_POOL_LOG_LEVEL ?? 'info' })
}
