#!/usr/bin/env node
// Assembles BENCHMARKS.md from the result files each benchmark writes (bench/results/*.md), with the
// machine they ran on, so the published figures always come from one run of `pnpm bench`.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'

const root = new URL('..', import.meta.url).pathname
const sources = [
  ['Worker (`pnpm --filter @npu-fleet/worker bench:all`)', 'apps/npu-worker/bench/results'],
  ['Pool (`pnpm bench:pool`)', 'packages/pool/bench/results'],
]

const cpu = os.cpus()[0]?.model ?? 'unknown CPU'
const lines = [
  '# Benchmarks',
  '',
  'Produced by `pnpm bench` (each section also runs alone with the command in its heading). Figures are',
  'ratios measured side by side in the same run, on the machine below; rerun them on yours. Tests never',
  'assert timings; CI runs only a smoke pass (`pnpm bench:smoke`) so the suite keeps working.',
  '',
  `Machine: ${os.cpus().length} × ${cpu}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.type()} ${os.release()}, Node ${process.version}. Date: ${new Date().toISOString().slice(0, 10)}.`,
  '',
]
for (const [title, dir] of sources) {
  const abs = join(root, dir)
  if (!existsSync(abs)) continue
  lines.push(`## ${title}`, '')
  for (const file of readdirSync(abs)
    .filter((f) => f.endsWith('.md') && !f.endsWith('.smoke.md'))
    .sort()) {
    lines.push(readFileSync(join(abs, file), 'utf8').trim(), '')
  }
}
// Why missed targets were missed: written by hand after reading the run above (scripts/benchmark-notes.md).
const notes = join(root, 'scripts', 'benchmark-notes.md')
if (existsSync(notes)) lines.push(readFileSync(notes, 'utf8').trim(), '')
writeFileSync(join(root, 'BENCHMARKS.md'), `${lines.join('\n').trim()}\n`)
console.log('wrote BENCHMARKS.md')
