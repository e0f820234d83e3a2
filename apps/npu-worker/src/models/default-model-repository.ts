import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** Root of the worker package, found from both src/ (tests) and dist/ (production). */
export const WORKER_PACKAGE_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')

/** The embedded default model repository, generated at build time by generate-default-models. */
export const DEFAULT_MODELS_DIR = join(WORKER_PACKAGE_ROOT, 'generated', 'models')

/** True once `pnpm build` has generated the default repository. */
export function defaultModelsGenerated(): boolean {
  return existsSync(join(DEFAULT_MODELS_DIR, 'mlp', 'model.yaml'))
}
