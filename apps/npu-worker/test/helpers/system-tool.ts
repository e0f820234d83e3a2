import { existsSync } from 'node:fs'

/**
 * Whether a test that needs the Debian program at `path` (from package `pkg`) can run here. Installed: true.
 * Missing on a developer machine: false, and the test says why it skips. Missing under CI as root
 * (`CI=true`, where scripts/install-system-deps.sh installs it): an error, so CI can never skip it silently.
 */
export function systemToolAvailable(path: string, pkg: string): boolean {
  if (existsSync(path)) return true
  const install = `scripts/install-system-deps.sh ${pkg} (as root)`
  if (process.env.CI === 'true' && process.getuid?.() === 0) {
    throw new Error(`${path} is missing under CI: install it with ${install}`)
  }
  console.warn(`SKIPPED: ${path} is not installed (Debian package ${pkg}; install it with ${install})`)
  return false
}
