import { join } from 'node:path'
// The worker's own process harness: the same spawner every worker integration test uses (one harness, not a copy).
import { loadMlpReference } from '../../../../apps/npu-worker/test/helpers/mlp-reference.js'
import {
  makeMlpModelRepository,
  startWorker,
  type TempModelRepository,
  type WorkerProcess,
} from '../../../../apps/npu-worker/test/helpers/worker-process.js'
import type { PoolLogger } from '../../src/logger.js'

export { startWorker, type WorkerProcess }

/** Real worker processes serving the generated MLP, started together. */
export interface MlpFleet {
  workers: WorkerProcess[]
  repo: TempModelRepository
  /** Reference MLP output (float64) for checking answers. */
  reference: (input: ArrayLike<number>, batch: number) => Float64Array
  stop(): Promise<void>
}

/** model.yaml of the MLP on the fake NPU of the worker's test hooks (static shapes, as a real NPU needs). */
export const FAKE_NPU_MLP_MANIFEST = 'devices: [NPU, CPU]\nstatic_shapes: { input: [1, 384] }\n'

/**
 * `NPU_WORKER_TEST_HOOKS` for a worker on the fake NPU (apps/npu-worker/src/testing/fake-openvino.ts), with
 * optional faults per model: `/health` then says `healthy` on device `NPU` (no NPU hardware is involved).
 */
export function fakeNpuHooks(faults: Record<string, unknown> = {}): Record<string, string> {
  return { NPU_WORKER_TEST_HOOKS: JSON.stringify({ fake_openvino: { devices: ['NPU', 'CPU'] }, faults }) }
}

/** Starts `count` real workers on loopback ports serving only the MLP (fast to load); call `stop()` in afterAll. */
export async function startMlpFleet(
  count: number,
  options: {
    env?: Record<string, string>
    envFor?: (index: number) => Record<string, string>
    /** The MLP's model.yaml (e.g. {@link FAKE_NPU_MLP_MANIFEST}); default: the generated one (CPU). */
    manifest?: string
  } = {},
): Promise<MlpFleet> {
  const repo = makeMlpModelRepository(options.manifest === undefined ? {} : { manifest: options.manifest })
  const started = await Promise.allSettled(
    Array.from({ length: count }, (_, i) =>
      startWorker({ modelsDir: repo.dir, waitFor: 'ready', env: { ...options.env, ...options.envFor?.(i) } }),
    ),
  )
  const failed = started.find((s) => s.status === 'rejected')
  if (failed) {
    // Do not leave the others running when one could not start.
    await Promise.all(started.map((s) => (s.status === 'fulfilled' ? s.value.stop('SIGKILL') : null)))
    repo.cleanup()
    throw failed.reason
  }
  const workers = started.map((s) => (s as PromiseFulfilledResult<WorkerProcess>).value)
  return {
    workers,
    repo,
    reference: loadMlpReference(join(repo.dir, 'mlp', '1', 'model.onnx')),
    stop: async () => {
      await Promise.all(
        workers.map(async (w) => {
          // A test may leave a worker stopped (SIGSTOP): wake it so SIGTERM can work, or kill it.
          w.process.kill('SIGCONT')
          await w.stop('SIGKILL')
        }),
      )
      repo.cleanup()
    },
  }
}

/** A valid KServe v2 request for the MLP: `batch` rows of 384 values. */
export function mlpRequest(batch = 1, seed = 0) {
  return {
    inputs: [
      {
        name: 'input',
        datatype: 'FP32' as const,
        shape: [batch, 384],
        data: Array.from({ length: batch * 384 }, (_, i) => Math.sin(i + seed) / 2),
      },
    ],
  }
}

/** One worker entry of a config document. */
export function workerEntry(
  id: string,
  url: string,
  extra: { priority?: number; enabled?: boolean; max_concurrent_tasks?: number; auth_token?: string } = {},
) {
  return { id, url, enabled: true, ...extra }
}

/** A log line captured by {@link captureLogger}. */
export interface CapturedLog {
  level: 'debug' | 'info' | 'warn' | 'error'
  msg: string
  fields: Record<string, unknown>
}

/** A {@link PoolLogger} that keeps every line, so tests can check levels and messages. */
export function captureLogger(): PoolLogger & {
  lines: CapturedLog[]
  find(level: CapturedLog['level'], text: string): CapturedLog[]
} {
  const lines: CapturedLog[] = []
  const at =
    (level: CapturedLog['level']) =>
    (fields: object, msg = '') => {
      lines.push({ level, msg, fields: fields as Record<string, unknown> })
    }
  return {
    lines,
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    find: (level, text) => lines.filter((l) => l.level === level && l.msg.includes(text)),
  }
}

/** Resolves after `ms` (lets real timers such as a breaker cooldown run; never used to assert timing). */
export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Polls `check` until it returns true or `timeoutMs` passes (then throws with `what`). */
export async function waitUntil(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 15_000,
): Promise<void> {
  const end = Date.now() + timeoutMs
  while (Date.now() < end) {
    if (await check()) return
    await sleep(20)
  }
  throw new Error(`timed out waiting for ${what}`)
}
