#!/usr/bin/env node
// Runs every worker benchmark in turn (one process each, so none disturbs the next), passing `--smoke`
// through. Each writes its own bench/results/*.md; scripts/assemble-benchmarks.mjs gathers them.
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { benchDir } from './lib.mjs'

const benches = [
  'worker-bench.mjs',
  'batching-bench.mjs',
  'binary-bench.mjs',
  'grpc-bench.mjs',
  'ocr-bench.mjs',
  'startup-memory-bench.mjs',
  'generation-bench.mjs',
  'peers-bench.mjs',
]
const extra = process.argv.slice(2)
for (const file of benches) {
  const path = join(benchDir, file)
  if (!existsSync(path)) continue
  console.log(`\n==> ${file} ${extra.join(' ')}`)
  const { status } = spawnSync(process.execPath, [path, ...extra], { stdio: 'inherit' })
  if (status !== 0) {
    console.error(`${file} failed (exit ${status})`)
    process.exit(1)
  }
}
