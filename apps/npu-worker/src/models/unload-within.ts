import type { FastifyBaseLogger } from 'fastify'
import { settleWithin } from '../time-limit.js'

/** What a model version unloads: a tensor model's LoadedModel, a language model's TextGenerator. */
interface Unloadable {
  readonly backend: string
  readonly device: string
  unload(): Promise<void>
}

/**
 * Unloads what `version` runs on, waiting at most `limitMs` (its hard limit plus a grace): a native unload that
 * does not come back is logged and given up on, never waited for (shutdown and repository unloads go on).
 */
export async function unloadWithin(
  version: { name: string; version: string },
  runnable: Unloadable,
  limitMs: number,
  log: Pick<FastifyBaseLogger, 'error'>,
): Promise<void> {
  const ids = { model: version.name, version: version.version }
  const outcome = await settleWithin(
    runnable.unload().catch((error: Error) => {
      log.error({ ...ids, err: error }, 'model unload failed')
    }),
    limitMs,
  )
  if (outcome === 'timeout') {
    log.error(
      { ...ids, backend: runnable.backend, device: runnable.device },
      `model unload did not finish within ${limitMs} ms; given up on`,
    )
  }
}
