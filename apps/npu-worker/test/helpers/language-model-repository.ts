import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { buildTinyLlamaFiles, type TinyLlamaDims } from '../../src/models/tiny-llama-model.js'
import { GENERATED_MODELS_DIR, type TempModelRepository } from './worker-process.js'

/**
 * The tiny model made wider (about 12 M parameters, 48 MB of weights, as bench:generation's): each decode step
 * takes milliseconds instead of microseconds, so a long answer lasts seconds and a test can act while it runs.
 */
export const SLOW_LLAMA_DIMS: TinyLlamaDims = {
  hidden: 512,
  layers: 4,
  heads: 8,
  kvHeads: 2,
  headDim: 64,
  intermediate: 1536,
  contextLength: 512,
}

/** What goes in a temporary repository with language models. */
export interface LanguageModelRepositoryOptions {
  /** Generated models copied in as they are (`tiny-llama-chat`, `tiny-bert-embed`, ...). */
  copy?: readonly string[]
  /** Language models built here: folder name -> dimensions, model.yaml, and whether to add an IR stub. */
  build?: Record<string, { dims?: TinyLlamaDims; manifest: string; irStub?: boolean }>
  /** model.yaml replaced for copied models. */
  manifests?: Record<string, string>
  /** Other models, as files by path relative to their folder (model.yaml included). */
  files?: Record<string, Record<string, string | Uint8Array>>
}

/**
 * A temporary model repository for language-model tests. `irStub` writes `openvino_model.xml/.bin` stubs
 * beside the ONNX in the version folder, as an optimum-intel export lays a model out, so the fake OpenVINO GenAI
 * loads it (and computes with the ONNX beside it).
 */
export function makeLanguageModelRepository(options: LanguageModelRepositoryOptions): TempModelRepository {
  const dir = mkdtempSync(join(tmpdir(), 'npu-worker-llm-'))
  for (const name of options.copy ?? [])
    cpSync(join(GENERATED_MODELS_DIR, name), join(dir, name), { recursive: true })
  for (const [name, manifest] of Object.entries(options.manifests ?? {})) {
    writeFileSync(join(dir, name, 'model.yaml'), manifest)
  }
  const write = (name: string, files: Record<string, string | Uint8Array>) => {
    for (const [file, data] of Object.entries(files)) {
      mkdirSync(dirname(join(dir, name, file)), { recursive: true })
      writeFileSync(join(dir, name, file), data)
    }
  }
  for (const [name, files] of Object.entries(options.files ?? {})) write(name, files)
  for (const [name, model] of Object.entries(options.build ?? {})) {
    const files = buildTinyLlamaFiles(model.dims)
    files['model.yaml'] = model.manifest
    if (model.irStub) {
      files['1/openvino_model.xml'] = '<?xml version="1.0"?><net name="stub"/>'
      files['1/openvino_model.bin'] = ''
    }
    write(name, files)
  }
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}
