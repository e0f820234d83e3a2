import type { PoolLogger } from '../logger.js'

const LEVELS = ['debug', 'info', 'warn', 'error'] as const
type Level = (typeof LEVELS)[number]

/**
 * A plain-text {@link PoolLogger} for the CLI: `npu-pool warn: message (worker=a reason=...)` lines, at
 * `level` and above, so a person reads them and stdout stays the command's answer.
 */
export function textLogger(level: Level, write: (text: string) => void): PoolLogger {
  const min = LEVELS.indexOf(level)
  const at =
    (name: Level) =>
    (fields: object, msg = '') => {
      if (LEVELS.indexOf(name) < min) return
      const extra = Object.entries(fields)
        .filter(
          ([key, value]) =>
            key !== 'source' && value !== undefined && value !== null && typeof value !== 'object',
        )
        .map(([key, value]) => `${key}=${String(value)}`)
        .join(' ')
      write(`npu-pool ${name}: ${msg}${extra ? ` (${extra})` : ''}\n`)
    }
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }
}
