import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

// The page's files live in packages/pool/static/fleet/ as plain HTML, CSS and JavaScript (no build step). This
// module sits two levels under src/ and under dist/ alike, so the same relative path finds them from both.
const STATIC_DIR = fileURLToPath(new URL('../../../static/fleet/', import.meta.url))

/** The fleet page's files, read once when the admin plugin registers. */
export interface FleetPageAssets {
  page: string
  login: string
  style: string
  script: string
  icon: string
}

/** Reads the page's files from packages/pool/static/fleet/. */
export function loadFleetPageAssets(): FleetPageAssets {
  const read = (name: string) => readFileSync(`${STATIC_DIR}${name}`, 'utf8')
  return {
    page: read('index.html'),
    login: read('login.html'),
    style: read('fleet.css'),
    script: read('fleet.js'),
    icon: read('favicon.svg'),
  }
}

/** The login page, with a fixed notice where `<!--message-->` stands (never text from the request). */
export function loginPage(assets: FleetPageAssets, notice: 'failed' | 'logged_out' | null): string {
  const text =
    notice === 'failed'
      ? '<p class="error">That token was not accepted.</p>'
      : notice === 'logged_out'
        ? '<p>Logged out.</p>'
        : ''
  return assets.login.replace('<!--message-->', text)
}
