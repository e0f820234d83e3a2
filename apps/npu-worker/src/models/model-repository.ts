import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { formatIssues } from '@npu-fleet/protocol'
import { parse as parseYaml } from 'yaml'
import { type ModelManifest, ModelManifestSchema } from './model-manifest.js'

/** Model and version names: plain identifiers, so no name can walk out of the repository folder. */
export const MODEL_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/

/** True when `name` is a safe model or version name. */
export function isValidModelName(name: string): boolean {
  return MODEL_NAME_PATTERN.test(name) && !name.includes('..')
}

/** One version of one model, found on disk and ready to load. */
export interface ModelVersionSpec {
  name: string
  version: string
  manifest: ModelManifest
  /** Absolute path of the `.onnx` or `.xml` file. */
  modelPath: string
  /** Absolute path of the model folder (where model.yaml and side files such as vocabularies live). */
  modelDir: string
}

/** A model folder that could not be used, and why. */
export interface ModelRepositoryError {
  name: string
  error: string
}

/** Result of scanning a repository: usable versions, and folders skipped with the reason. */
export interface ModelRepositoryScan {
  specs: ModelVersionSpec[]
  errors: ModelRepositoryError[]
}

/**
 * Scans an OVMS-like model repository: `<name>/model.yaml` plus numbered version folders, or the model
 * files directly in `<name>/` (version "1"). A bad model folder is reported and skipped; the others load.
 * Throws only when the repository folder itself is missing.
 */
export function scanModelRepository(root: string): ModelRepositoryScan {
  if (!existsSync(root) || !statSync(root).isDirectory()) {
    throw new Error(`model repository ${root} does not exist or is not a directory`)
  }
  const scan: ModelRepositoryScan = { specs: [], errors: [] }
  for (const entry of readdirSync(root, { withFileTypes: true }).sort((a, b) =>
    a.name.localeCompare(b.name),
  )) {
    if (!entry.isDirectory() || entry.name.startsWith('.')) continue
    try {
      scan.specs.push(...scanModel(root, entry.name))
    } catch (error) {
      scan.errors.push({ name: entry.name, error: (error as Error).message })
    }
  }
  return scan
}

/** The versions of one model folder (its version policy applied); throws naming the file and key at fault. */
export function scanModel(root: string, name: string): ModelVersionSpec[] {
  if (!isValidModelName(name))
    throw new Error(`${name}: invalid model name (allowed: ${MODEL_NAME_PATTERN.source})`)
  const modelDir = join(root, name)
  const manifest = readManifest(modelDir, name)
  const versionDirs = readdirSync(modelDir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && /^[1-9][0-9]{0,8}$/.test(e.name))
    .map((e) => Number(e.name))
    .sort((a, b) => a - b)

  // No numbered folders: the files sit beside model.yaml and form version 1.
  const available = versionDirs.length > 0 ? versionDirs : [1]
  const base = (v: number) => (versionDirs.length > 0 ? join(modelDir, String(v)) : modelDir)
  const chosen =
    manifest.versions === 'latest'
      ? available.slice(-1)
      : manifest.versions === 'all'
        ? available
        : manifest.versions.filter((v) => {
            if (!available.includes(v))
              throw new Error(`${name}/model.yaml: versions: version ${v} has no folder`)
            return true
          })

  return chosen.map((v) => ({
    name,
    version: String(v),
    manifest,
    modelPath: pickModelFile(base(v), manifest.file, `${name}/${versionDirs.length > 0 ? `${v}/` : ''}`),
    modelDir,
  }))
}

function readManifest(modelDir: string, name: string): ModelManifest {
  const file = join(modelDir, 'model.yaml')
  let raw: unknown = {}
  if (existsSync(file)) {
    try {
      raw = parseYaml(readFileSync(file, 'utf8')) ?? {}
    } catch (error) {
      throw new Error(`${name}/model.yaml: not valid YAML: ${(error as Error).message.split('\n')[0]}`)
    }
  }
  const parsed = ModelManifestSchema.safeParse(raw)
  if (!parsed.success) throw new Error(formatIssues(parsed.error, `${name}/model.yaml`))
  return parsed.data
}

function pickModelFile(dir: string, file: string | undefined, label: string): string {
  const candidates = file ? [file] : readdirSync(dir).filter((f) => f.endsWith('.xml') || f.endsWith('.onnx'))
  // OpenVINO IR wins over ONNX: it is what the NPU path was converted and tuned for.
  const pick = candidates.find((f) => f.endsWith('.xml')) ?? candidates.find((f) => f.endsWith('.onnx'))
  if (!pick) throw new Error(`${label}: no .onnx or .xml model file`)
  if (!file && candidates.filter((f) => f.endsWith(pick.endsWith('.xml') ? '.xml' : '.onnx')).length > 1) {
    throw new Error(`${label}: several model files; name one with \`file:\` in model.yaml`)
  }
  const path = join(dir, pick)
  if (!existsSync(path)) throw new Error(`${label}${pick}: file not found`)
  if (pick.endsWith('.xml') && !existsSync(path.replace(/\.xml$/, '.bin'))) {
    throw new Error(
      `${label}${pick}: OpenVINO IR needs its weights file ${pick.replace(/\.xml$/, '.bin')} beside it`,
    )
  }
  return path
}
