import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { readJsonFile } from '../models/json-file.js'
import type { GenerationSection } from './generation-manifest.js'

/** Absolute paths of a language model's files; optional ones are null when absent. */
export interface GenerationFiles {
  /** The decoder `.onnx`. */
  model: string
  tokenizer: string
  tokenizerConfig: string | null
  generationConfig: string | null
  config: string | null
  /** A separate Jinja chat template (`chat_template.jinja`, or the one model.yaml names). */
  chatTemplate: string | null
}

/** The default name newer transformers versions save a chat template under. */
const CHAT_TEMPLATE_FILE = 'chat_template.jinja'

/**
 * Finds the files of `section` for the model file `modelPath`: each in the model file's folder (the version
 * folder), else in `modelDir`. The tokenizer is required, and so is a chat template that model.yaml names;
 * the others are optional. Throws naming the missing file.
 */
export function resolveGenerationFiles(
  modelPath: string,
  modelDir: string,
  section: GenerationSection,
): GenerationFiles {
  const folders = [dirname(modelPath), modelDir]
  const find = (name: string): string | null => {
    for (const folder of folders) {
      const path = join(folder, name)
      if (existsSync(path)) return path
    }
    return null
  }
  const required = (name: string, key: string): string => {
    const path = find(name)
    if (!path) throw new Error(`generation.${key}: ${name} not found in ${folders.join(' or ')}`)
    return path
  }
  return {
    model: modelPath,
    tokenizer: required(section.tokenizer, 'tokenizer'),
    tokenizerConfig: find(section.tokenizer_config),
    generationConfig: find(section.generation_config),
    config: find(section.config),
    chatTemplate: section.chat_template
      ? required(section.chat_template, 'chat_template')
      : find(CHAT_TEMPLATE_FILE),
  }
}

/** A JSON file's object, or `{}` when the file is absent. */
export function readOptionalJson(path: string | null): Record<string, unknown> {
  return path ? readJsonFile(path) : {}
}

/** Token ids in a config field: one id or a list (generation_config.json's `eos_token_id` is either). */
export function tokenIdList(value: unknown): number[] {
  const list = Array.isArray(value) ? value : [value]
  return list.filter((v): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0)
}

/** The file OpenVINO GenAI's `LLMPipeline` reads from a model folder. */
export const GENAI_MODEL_FILE = 'openvino_model.xml'

/**
 * The ONNX decoder the ONNX Runtime engine can serve for a language model whose model file is `modelPath`: that
 * file when it is ONNX; beside an OpenVINO IR, the `.onnx` of the same name, else optimum's `model.onnx` in the
 * same folder; null when there is none.
 */
export function generationOnnxPath(modelPath: string): string | null {
  if (modelPath.endsWith('.onnx')) return existsSync(modelPath) ? modelPath : null
  const candidates = [modelPath.replace(/\.xml$/, '.onnx'), join(dirname(modelPath), 'model.onnx')]
  return candidates.find((path) => path !== modelPath && existsSync(path)) ?? null
}
