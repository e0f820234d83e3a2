import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { GENERATED_MODELS_DIR } from '../../../../apps/npu-worker/test/helpers/worker-process.js'
import { startWorker, type WorkerProcess } from './fleet.js'

/** The generated tiny language model every worker serves after `pnpm build` (random weights: gibberish, deterministic). */
export const LANGUAGE_MODEL = 'tiny-llama-chat'

// Steps the model's self-test at load takes in its engine thread (8 greedy tokens): a hang fault at step
// `after + 1` with `after` = this holds the first request's prefill, so no chunk ever comes.
export const SELF_TEST_STEPS = 8

/** A model repository with the tiny language model (and the embedder, for the seeds' embedding tasks). */
export interface LanguageRepository {
  dir: string
  cleanup(): void
}

/** Copies the generated tiny-llama-chat (and tiny-bert-embed) into a temp repository; `manifest` replaces its model.yaml. */
export function makeLanguageRepository(
  options: { manifest?: string; embedder?: boolean } = {},
): LanguageRepository {
  const dir = mkdtempSync(join(tmpdir(), 'pool-llm-'))
  cpSync(join(GENERATED_MODELS_DIR, LANGUAGE_MODEL), join(dir, LANGUAGE_MODEL), { recursive: true })
  if (options.embedder)
    cpSync(join(GENERATED_MODELS_DIR, 'tiny-bert-embed'), join(dir, 'tiny-bert-embed'), { recursive: true })
  if (options.manifest !== undefined) writeFileSync(join(dir, LANGUAGE_MODEL, 'model.yaml'), options.manifest)
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}

/** `NPU_WORKER_TEST_HOOKS` making the language model's engine thread block at step `after + 1`, as a stuck native call would. */
export function hangHooks(after: number): Record<string, string> {
  return { NPU_WORKER_TEST_HOOKS: JSON.stringify({ faults: { [LANGUAGE_MODEL]: { hang: { after } } } }) }
}

/** Starts a real worker serving `repo` on a loopback port, ready. */
export function startLanguageWorker(
  repo: LanguageRepository,
  env: Record<string, string> = {},
): Promise<WorkerProcess> {
  return startWorker({ modelsDir: repo.dir, waitFor: 'ready', env })
}

/** The worker's own generation load from its `/health` (sequences generating and waiting). */
export async function generationLoad(worker: WorkerProcess): Promise<{ active: number; queued: number }> {
  const body = (await (await fetch(`${worker.url}/health`)).json()) as {
    load: { generation?: { active: number; queued: number } }
  }
  return body.load.generation ?? { active: 0, queued: 0 }
}
