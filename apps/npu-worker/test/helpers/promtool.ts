import { execFile } from 'node:child_process'

/** What one `promtool` run said. */
export interface PromtoolRun {
  /** Exit status (0: clean). */
  code: number
  /** stdout and stderr together. */
  output: string
}

/**
 * Runs Debian's `promtool` (package `prometheus`, scripts/install-system-deps.sh) with `args`, `stdin` piped in.
 * Throws with the install command when it is missing: the checks it makes are part of the suite, never skipped.
 */
export function promtool(args: readonly string[], stdin?: string): Promise<PromtoolRun> {
  return new Promise((resolve, reject) => {
    const child = execFile('promtool', [...args], { timeout: 60_000 }, (error, stdout, stderr) => {
      if ((error as NodeJS.ErrnoException | null)?.code === 'ENOENT') {
        reject(
          new Error(
            'promtool is missing: install it with scripts/install-system-deps.sh prometheus (as root)',
          ),
        )
        return
      }
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0
      resolve({ code, output: `${stdout}${stderr}` })
    })
    child.stdin?.end(stdin ?? '')
  })
}

/** The value of one series in a Prometheus text exposition (`name{label="v",...}` exactly as written), or undefined. */
export function seriesValue(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `))
  if (line === undefined) return undefined
  const raw = line.slice(series.length + 1).trim()
  // The text format writes infinities as +Inf/-Inf, which Number() does not read.
  if (raw === '+Inf') return Number.POSITIVE_INFINITY
  if (raw === '-Inf') return Number.NEGATIVE_INFINITY
  return Number(raw)
}
