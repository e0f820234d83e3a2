import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { WORKER_PACKAGE_ROOT } from './models/default-model-repository.js'

/** The worker's version, from its package.json (what `/health` reports and deploys verify). */
export const WORKER_VERSION: string = JSON.parse(
  readFileSync(join(WORKER_PACKAGE_ROOT, 'package.json'), 'utf8'),
).version
