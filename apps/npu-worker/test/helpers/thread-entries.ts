import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { threadEntriesIn } from '../../src/threads/thread-entries.js'
import { WORKER_ROOT } from './worker-process.js'

/**
 * The compiled thread entries in dist/: tests run src/ under vitest, and worker threads load only compiled
 * JavaScript, so every test that starts threads passes these (build first: `pnpm --filter @npu-fleet/worker build`).
 */
export const DIST_THREAD_ENTRIES = threadEntriesIn(pathToFileURL(`${join(WORKER_ROOT, 'dist')}/`))
