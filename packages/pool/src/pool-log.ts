import type { CircuitState } from './breaker/circuit-breaker.js'
import { PoolErrorCode } from './errors.js'
import type { HealthTransition } from './health/worker-health.js'
import type { PoolLogger } from './logger.js'
import type { RetryNotice } from './retry/retry-policy.js'
import type { EjectionChange } from './selection/ejection-cap.js'

// What the pool says in its log, in one place (the README's "Logs" list is this file).

/** A failed attempt that will be retried elsewhere: INFO. */
export function logRetry(logger: PoolLogger, { workerId, attempt, outcome }: RetryNotice): void {
  logger.info(
    {
      worker: workerId,
      attempt,
      reason: outcome.reason,
      status: outcome.status,
      workerCode: outcome.workerCode,
      err: outcome.message,
    },
    'task attempt failed; retrying on another worker',
  )
}

/** A circuit moved: opened ERROR, half-open and closed INFO. */
export function logCircuitChange(
  logger: PoolLogger,
  worker: string,
  state: CircuitState,
  detail: { cooldownMs: number | null; failures: number; reopens: number },
): void {
  if (state === 'open') {
    logger.error(
      { worker, failures: detail.failures, cooldownMs: detail.cooldownMs, reopens: detail.reopens },
      'circuit opened: worker gets no traffic until the cooldown ends',
    )
  } else if (state === 'half_open') {
    logger.info({ worker }, 'circuit half-open: the next request is a probe')
  } else {
    logger.info({ worker }, 'circuit closed: probe succeeded')
  }
}

/** A tier entered panic (ERROR: the fleet's health signal is in doubt) or left it (INFO). */
export function logEjectionChange(
  logger: PoolLogger,
  change: EjectionChange,
  maxEjectionPercent: number,
): void {
  const fields = { ...change, maxEjectionPercent }
  if (change.panicking) {
    logger.error(
      fields,
      `ejection cap reached: ${change.ejected} of ${change.members} workers of priority ${change.priority} are out (at most ${change.allowed}); routing to all of them`,
    )
  } else {
    logger.info(
      fields,
      `ejection cap released: priority ${change.priority} routes by health and circuits again`,
    )
  }
}

/** A task's final failure: ERROR when the fleet failed the caller, WARN for the caller's bad input, DEBUG for its cancel. */
export function logTaskFailure(
  logger: PoolLogger,
  code: PoolErrorCode,
  fields: Record<string, unknown>,
): void {
  if (code === PoolErrorCode.WORKER_REJECTED) logger.warn(fields, 'task refused by the worker')
  else if (code === PoolErrorCode.ABORTED) logger.debug(fields, 'task aborted by the caller')
  else logger.error(fields, 'task failed; caller should fall back')
}

/** A health check changed the verdict: down WARN, refused WARN (once per episode), up INFO. */
export function logHealthTransition(
  logger: PoolLogger,
  worker: string,
  transition: HealthTransition,
  health: { refused: string | null; lastError: string | null; status: string | null },
): void {
  if (transition === 'refused') {
    logger.warn(
      { worker, reason: health.refused },
      'worker refused: it does not answer /health as an npu-worker this pool can speak to; no traffic and no token go to it',
    )
  } else if (transition === 'down') {
    logger.warn({ worker, reason: health.lastError }, 'worker marked down by health checks')
  } else if (transition === 'up') {
    logger.info({ worker, status: health.status }, 'worker marked up by health checks')
  }
}
