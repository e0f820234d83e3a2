// Ad-hoc A/B of the pool's own CPU per request, not part of `pnpm bench`: instructions per `pool.infer` call
// (the MLP request) counted by valgrind (cachegrind, no cache simulation), against a direct call doing only what
// any client must (JSON.stringify the request, JSON.parse the answer). undici's Pool.request (and the health
// Client's) are answered in-process with a worker's real answers, so no socket, no worker and no other process
// enters the count: on a shared 2-core machine where load moves CPU-per-request figures by ±30%, this one holds
// to about ±4%. Each side runs twice in its own process (N1 and N2 calls, 16 concurrent, V8 --single-threaded so
// JIT and GC run in the counted thread); per call = (I(N2) − I(N1)) / (N2 − N1), which cancels start-up. Sides
// alternate. Run: node packages/pool/bench/client-instructions.mjs [OLD_DIST] [--rounds 2] (default: this
// package's dist only; OLD_DIST e.g. /work/main/packages/pool/dist). Needs valgrind.
import { spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { MLP_REQUEST, SERVING_HEALTH } from './bench-lib.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const CONCURRENCY = 16
const [N1, N2] = [3000, 23000]

const answer = JSON.stringify({
  model_name: 'mlp',
  model_version: '1',
  outputs: [
    {
      name: 'output',
      datatype: 'FP32',
      shape: [1, 16],
      data: Array.from({ length: 16 }, (_, i) => Math.cos(i) / 7),
    },
  ],
})
const answerHeaders = {
  connection: 'keep-alive',
  'content-length': String(answer.length),
  'content-type': 'application/json; charset=utf-8',
  'keep-alive': 'timeout=72',
  'x-request-id': '2389199e-f353-40ab-9373-c60a39428b16',
}
const request = MLP_REQUEST
const answered = async () => ({ statusCode: 200, headers: answerHeaders, body: { text: async () => answer } })

/** Child mode: `calls` calls of one side, then exit (the parent counts the whole process). */
async function countedRun(side, calls) {
  let call
  if (side === 'direct') {
    call = async () => {
      const res = await answered({
        path: '/v2/models/mlp/infer',
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(request),
      })
      return res.statusCode === 200 && Array.isArray(JSON.parse(await res.body.text()).outputs)
    }
  } else {
    const undici = createRequire(join(side, 'index.js'))('undici')
    const healthBody = Buffer.from(JSON.stringify(SERVING_HEALTH))
    undici.Client.prototype.request = async () => ({
      statusCode: 200,
      headers: { 'content-type': 'application/json' },
      body: {
        async *[Symbol.asyncIterator]() {
          yield healthBody
        },
        destroy() {},
      },
    })
    undici.Pool.prototype.request = answered
    const { NpuWorkerPool } = await import(join(side, 'index.js'))
    const silent = { debug() {}, info() {}, warn() {}, error() {} }
    const pool = new NpuWorkerPool({
      config: {
        workers: [{ id: 'w0', url: 'http://127.0.0.1:9', enabled: true, max_concurrent_tasks: CONCURRENCY }],
        load_balancing: { health_check_interval: 0, health_stale_seconds: 100_000 },
      },
      logger: silent,
    })
    await pool.initialize()
    call = async () => (await pool.infer('mlp', request)).success
  }
  let left = calls
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (left-- > 0) if (!(await call())) throw new Error(`${side}: a call failed`)
    }),
  )
  process.exit(0)
}

/** Instructions the whole process ran for `calls` calls of `side` (valgrind's summary, on stderr). */
function instructions(side, calls) {
  const run = spawnSync(
    'valgrind',
    [
      '--tool=cachegrind',
      '--cache-sim=no',
      '--cachegrind-out-file=/dev/null',
      process.execPath,
      '--single-threaded',
      fileURLToPath(import.meta.url),
      '--count',
      side,
      String(calls),
    ],
    { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'], maxBuffer: 1 << 24 },
  )
  if (run.error) throw run.error
  if (run.status !== 0) throw new Error(`${side}: the counted run failed:\n${run.stderr}`)
  const match = /I\s+refs:\s+([\d,]+)/.exec(run.stderr)
  if (!match) throw new Error(`no instruction count in valgrind's output:\n${run.stderr}`)
  return Number(match[1].replaceAll(',', ''))
}

const countAt = process.argv.indexOf('--count')
if (countAt !== -1) {
  await countedRun(process.argv[countAt + 1], Number(process.argv[countAt + 2]))
} else {
  const roundsAt = process.argv.indexOf('--rounds')
  const rounds = roundsAt === -1 ? 2 : Number(process.argv[roundsAt + 1])
  const oldDist = process.argv[2] && !process.argv[2].startsWith('--') ? resolve(process.argv[2]) : null
  const sides = [
    ['direct', 'direct'],
    ...(oldDist ? [['old', oldDist]] : []),
    ['new', join(here, '..', 'dist')],
  ]
  const perCall = Object.fromEntries(sides.map(([name]) => [name, []]))
  for (let r = 0; r < rounds; r++) {
    for (const [name, side] of r % 2 === 0 ? sides : [...sides].reverse()) {
      const counted = (instructions(side, N2) - instructions(side, N1)) / (N2 - N1)
      perCall[name].push(counted)
      console.log(`round ${r}: ${name} ${Math.round(counted).toLocaleString('en-US')} instructions per call`)
    }
  }
  const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length
  for (const [name] of sides) {
    const above = mean(perCall[name]) - mean(perCall.direct)
    console.log(
      `${name}: ${Math.round(mean(perCall[name])).toLocaleString('en-US')} per call (rounds ${perCall[name].map((x) => Math.round(x).toLocaleString('en-US')).join(', ')})${name === 'direct' ? '' : `; above direct ${Math.round(above).toLocaleString('en-US')}`}`,
    )
  }
}
