#!/usr/bin/env node
// The native runtimes of a release: packages such as openvino-node (and openvino-genai-node) ship their
// JavaScript on npm and download their native addon at install time, which build machines cannot do. A
// release carries each such package without its runtime; this script installs the runtime archive into the
// release folder itself, so every release keeps its own runtime and a rollback returns to one that is intact.
//
// Where an archive goes is read from the package's own `binary` config (the one its download script uses):
// `module_path` is the folder the archive is unpacked into, `host` + `remote_path` + `package_name` its
// download address; the addon file is the one the package's dist/ code requires. Nothing is hard-coded here.
//
// Shipped in every release as share/release-runtimes.mjs and run on the release's own Node, by
// `pnpm release --runtime NAME=ARCHIVE` (a release built with its runtime inside) and by the Ansible role
// (the runtime installed on the host, before the switch):
//   node release-runtimes.mjs status  --release DIR [--json]
//   node release-runtimes.mjs install --release DIR --name NAME --archive FILE --sha256 HEX
// install prints one JSON line ({"name", "changed", "dest", "sha256"}); exit 0 done, 1 refused (the cause
// on stderr, nothing changed), 2 bad arguments.
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import {
  createReadStream,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { basename, join, relative, resolve, sep } from 'node:path'
import { parseArgs } from 'node:util'

/** Written into the unpacked folder: which archive it came from, so the same archive is never unpacked twice. */
const MARKER = '.npu-fleet-runtime.json'

class Refused extends Error {}

function usage(message) {
  process.stderr.write(
    `release-runtimes: ${message}\n` +
      'usage: release-runtimes.mjs status --release DIR [--json]\n' +
      '       release-runtimes.mjs install --release DIR --name NAME --archive FILE --sha256 HEX\n',
  )
  process.exit(2)
}

/** Every package under the release's app/node_modules whose package.json names a downloadable runtime. */
function runtimeSlots(releaseDir) {
  const modules = join(releaseDir, 'app', 'node_modules')
  if (!existsSync(modules)) throw new Refused(`${releaseDir} is not a release folder (no app/node_modules)`)
  const packageDirs = []
  for (const entry of readdirSync(modules)) {
    if (entry.startsWith('.')) continue
    if (entry.startsWith('@')) {
      for (const scoped of readdirSync(join(modules, entry))) packageDirs.push(join(modules, entry, scoped))
    } else packageDirs.push(join(modules, entry))
  }
  const slots = []
  for (const dir of packageDirs.sort()) {
    const manifestPath = join(dir, 'package.json')
    if (!existsSync(manifestPath)) continue
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'))
    const binary = manifest.binary
    if (!binary?.module_path || !binary.package_name || !binary.host || !binary.remote_path) continue
    const version = binary.version || manifest.version
    // The release runs on this very Node binary, so its platform and arch are the release's (the same values
    // the package's own download script puts in the address).
    const fill = (template) =>
      template
        .replaceAll('{version}', version)
        .replaceAll('{platform}', process.platform)
        .replaceAll('{arch}', process.arch)
        .replaceAll('{extension}', 'tar.gz')
    const dest = resolve(dir, binary.module_path)
    if (!dest.startsWith(resolve(releaseDir) + sep)) {
      throw new Refused(
        `${manifest.name}: binary.module_path ${binary.module_path} leaves the release folder`,
      )
    }
    slots.push({
      name: manifest.name,
      version,
      dest,
      addon: addonFileOf(dir),
      archive: fill(binary.package_name),
      url: new URL(`${fill(binary.remote_path)}${fill(binary.package_name)}`, binary.host).toString(),
    })
  }
  return slots
}

/** The `.node` file the package's compiled code requires (e.g. `ov_node_addon.node`), or null if none is named. */
function addonFileOf(packageDir) {
  const dist = join(packageDir, 'dist')
  if (!existsSync(dist)) return null
  for (const file of readdirSync(dist).sort()) {
    if (!/\.(c|m)?js$/.test(file)) continue
    const match = /require\(\s*['"][^'"]*\/([\w.-]+\.node)['"]\s*\)/.exec(
      readFileSync(join(dist, file), 'utf8'),
    )
    if (match) return match[1]
  }
  return null
}

function readMarker(dest) {
  try {
    return JSON.parse(readFileSync(join(dest, MARKER), 'utf8'))
  } catch {
    return null
  }
}

async function sha256Of(file) {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(file)) hash.update(chunk)
  return hash.digest('hex')
}

/** `tar` with its stderr kept, for the message of a corrupt archive. */
function tar(args) {
  const run = spawnSync('tar', args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })
  if (run.error) throw new Refused(`cannot run tar: ${run.error.message}`)
  return run
}

function describe(slot, releaseDir) {
  const marker = readMarker(slot.dest)
  const addonPath = slot.addon ? join(slot.dest, slot.addon) : null
  const present = addonPath ? existsSync(addonPath) : existsSync(slot.dest)
  return {
    name: slot.name,
    version: slot.version,
    dest: relative(releaseDir, slot.dest),
    addon: slot.addon,
    installed: present,
    archive: marker?.archive ?? null,
    sha256: marker?.sha256 ?? null,
    expected_archive: slot.archive,
    url: slot.url,
  }
}

function status(releaseDir, json) {
  const report = runtimeSlots(releaseDir).map((slot) => describe(slot, releaseDir))
  if (json) {
    process.stdout.write(`${JSON.stringify(report)}\n`)
    return
  }
  if (report.length === 0) process.stdout.write('no package of this release needs a native runtime\n')
  for (const r of report) {
    const what = r.addon ? `${r.dest}/${r.addon}` : r.dest
    const line = !r.installed
      ? `NOT installed (no ${what}): the worker cannot load it; install ${r.expected_archive} (${r.url})`
      : r.sha256
        ? `installed from ${r.archive} (sha256 ${r.sha256.slice(0, 12)}...) in ${r.dest}`
        : `installed in ${r.dest} (not by release-runtimes: no record of its archive)`
    process.stdout.write(`${r.name} ${r.version}: ${line}\n`)
  }
}

async function install(releaseDir, name, archive, expectedSha256) {
  const slots = runtimeSlots(releaseDir)
  const slot = slots.find((s) => s.name === name)
  if (!slot) {
    const known = slots.map((s) => s.name).join(', ') || 'none'
    throw new Refused(`this release has no package ${name} with a native runtime (it has: ${known})`)
  }
  if (!existsSync(archive) || !statSync(archive).isFile()) throw new Refused(`no archive file ${archive}`)
  const sha256 = await sha256Of(archive)
  if (sha256 !== expectedSha256.toLowerCase()) {
    throw new Refused(
      `checksum mismatch: ${archive} has sha256 ${sha256}, expected ${expectedSha256}: a corrupt or wrong ` +
        `download. Nothing was installed.`,
    )
  }
  const result = { name, changed: false, dest: relative(releaseDir, slot.dest), sha256 }
  const marker = readMarker(slot.dest)
  if (marker?.sha256 === sha256 && (!slot.addon || existsSync(join(slot.dest, slot.addon)))) return result

  const listing = tar(['-tzf', archive])
  if (listing.status !== 0) {
    throw new Refused(
      `${archive} is not a readable .tar.gz archive (tar: ${listing.stderr.trim().split('\n').join('; ')}). ` +
        'Nothing was installed.',
    )
  }
  const members = listing.stdout.split('\n').filter(Boolean)
  const unsafe = members.find((m) => m.startsWith('/') || m.split('/').includes('..'))
  if (unsafe) throw new Refused(`${archive} holds a path outside its folder (${unsafe}); refused`)
  if (slot.addon && !members.some((m) => m.replace(/^\.\//, '') === slot.addon)) {
    const elsewhere = members.find((m) => basename(m) === slot.addon)
    throw new Refused(
      `${archive} holds no ${slot.addon} at its top level${elsewhere ? ` (it has ${elsewhere})` : ''}: ` +
        `${name} ${slot.version} loads it from ${relative(releaseDir, slot.dest)}/${slot.addon} and expects ` +
        `the layout of ${slot.archive} (${slot.url}). Nothing was installed.`,
    )
  }

  // Unpack beside the target and swap it in, so a failure leaves the previous content as it was.
  const staging = `${slot.dest}.installing-${process.pid}`
  const replaced = `${slot.dest}.replaced-${process.pid}`
  rmSync(staging, { recursive: true, force: true })
  mkdirSync(staging, { recursive: true })
  try {
    const unpack = tar(['-xzf', archive, '-C', staging, '--no-same-owner'])
    if (unpack.status !== 0) {
      throw new Refused(
        `${archive} could not be unpacked (tar: ${unpack.stderr.trim().split('\n').join('; ')}). ` +
          'Nothing was installed.',
      )
    }
    writeFileSync(
      join(staging, MARKER),
      `${JSON.stringify({ name, version: slot.version, archive: basename(archive), sha256 })}\n`,
    )
    if (existsSync(slot.dest)) renameSync(slot.dest, replaced)
    try {
      renameSync(staging, slot.dest)
    } catch (err) {
      if (existsSync(replaced)) renameSync(replaced, slot.dest)
      throw err
    }
    rmSync(replaced, { recursive: true, force: true })
  } finally {
    rmSync(staging, { recursive: true, force: true })
  }
  return { ...result, changed: true }
}

const [command, ...rest] = process.argv.slice(2)
let values
try {
  ;({ values } = parseArgs({
    args: rest,
    options: {
      release: { type: 'string' },
      name: { type: 'string' },
      archive: { type: 'string' },
      sha256: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  }))
} catch (err) {
  usage(err.message)
}
if (!values.release) usage('--release DIR is required')
const releaseDir = resolve(values.release)
try {
  if (command === 'status') status(releaseDir, values.json)
  else if (command === 'install') {
    if (!values.name || !values.archive || !values.sha256)
      usage('install needs --name, --archive and --sha256')
    if (!/^[0-9a-fA-F]{64}$/.test(values.sha256))
      usage(`--sha256 must be 64 hex digits, got ${values.sha256}`)
    const result = await install(releaseDir, values.name, resolve(values.archive), values.sha256)
    process.stdout.write(`${JSON.stringify(result)}\n`)
  } else usage(`unknown command ${command ?? '(none)'}`)
} catch (err) {
  if (!(err instanceof Refused)) throw err
  process.stderr.write(`release-runtimes: ${err.message}\n`)
  process.exit(1)
}
