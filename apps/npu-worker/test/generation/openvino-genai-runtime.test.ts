// Loading openvino-genai-node without its native runtime: the loader answers with the reason and never takes the
// process down. The package's failed import rejects twice, the second time unhandled (ENVIRONMENT.md); the loader
// imports it first in a throw-away thread. Checked in separate real processes, with the installed package (no
// addon: found missing on disk) and with a copy of it holding a broken addon (the import itself fails).
import { spawnSync } from 'node:child_process'
import { cpSync, mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { genaiPackageFiles, loadOpenvinoGenaiRuntime } from '../../src/generation/openvino-genai-runtime.js'
import { WORKER_ROOT } from '../helpers/worker-process.js'

const LOADER = pathToFileURL(join(WORKER_ROOT, 'dist', 'generation', 'openvino-genai-runtime.js')).href

/** A copy of the installed openvino-genai-node and openvino-node whose addons exist but are not addons. */
function brokenRuntimeCopy(): { root: string; entry: string; addons: string[] } {
  const real = genaiPackageFiles()
  const genaiRoot = realpathSync(dirname(dirname(real.entry)))
  const openvinoRoot = realpathSync(dirname(dirname(real.addons[0] as string)))
  const root = mkdtempSync(join(tmpdir(), 'genai-broken-'))
  const modules = join(root, 'node_modules')
  cpSync(genaiRoot, join(modules, 'openvino-genai-node'), { recursive: true, dereference: true })
  cpSync(openvinoRoot, join(modules, 'openvino-node'), { recursive: true, dereference: true })
  const addons = [
    join(modules, 'openvino-node', 'bin', 'ov_node_addon.node'),
    join(modules, 'openvino-genai-node', 'bin', 'genai_node_addon.node'),
  ]
  for (const addon of addons) {
    mkdirSync(dirname(addon), { recursive: true })
    writeFileSync(addon, 'not an ELF shared object')
  }
  return { root, entry: join(modules, 'openvino-genai-node', 'dist', 'index.js'), addons }
}

/** Runs an ES module script in a new Node process; its exit code and output. */
function runNode(script: string): { status: number | null; out: string } {
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
    timeout: 120_000,
  })
  return { status: child.status, out: `${child.stdout}${child.stderr}` }
}

const broken = brokenRuntimeCopy()
afterAll(() => rmSync(broken.root, { recursive: true, force: true }))

describe('loadOpenvinoGenaiRuntime', () => {
  it('names the missing native addon of the installed package, without importing it', async () => {
    const load = await loadOpenvinoGenaiRuntime()
    expect(load.runtime).toBeNull()
    expect(load.error).toMatch(/^openvino-genai-node cannot be loaded: its native addon .*\.node is missing/)
  })

  it('a broken addon: the loader reports the import error and the process lives on (exit 0)', () => {
    const files = JSON.stringify({ entry: broken.entry, addons: broken.addons })
    const { status, out } = runNode(`
      const { loadOpenvinoGenaiRuntime } = await import(${JSON.stringify(LOADER)})
      const load = await loadOpenvinoGenaiRuntime(() => (${files}))
      await new Promise((resolve) => setTimeout(resolve, 300))
      console.log('LOADED', JSON.stringify(load.error))
    `)
    expect(status, out).toBe(0)
    expect(out).toMatch(
      /LOADED "openvino-genai-node cannot be loaded: .*(invalid ELF header|ov_node_addon|genai_node_addon)/,
    )
  })

  it('the trap it avoids: a plain import of the same copy inside try/catch ends the process (exit 1)', () => {
    const { status, out } = runNode(`
      try { await import(${JSON.stringify(pathToFileURL(broken.entry).href)}) } catch (error) { console.log('CAUGHT', error.code) }
      await new Promise((resolve) => setTimeout(resolve, 300))
      console.log('SURVIVED')
    `)
    expect(out).not.toContain('SURVIVED')
    expect(status, out).toBe(1)
  })
})
