import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import type { ModelRegistry } from '../../models/model-registry.js'
import type { TaskPipeline } from '../task-pipeline.js'
import { createOcrPipeline } from './ocr-pipeline.js'

/** The model names the `ocr` task serves with, as the embedded repository ships them. */
export const OCR_MODELS = { det: 'ppocr-det', rec: 'ppocr-rec', cls: 'ppocr-cls' } as const

/** The recognizer's dictionary file name, looked for in its model folder (a swapped-in model brings its own). */
const DICTIONARY_FILE = 'ppocr_keys_v1.txt'

/**
 * The `ocr` task for a model repository: registered when it holds the PP-OCR detection and recognition models
 * (the angle classifier is optional), else null, so `ocr` is a clear 404 listing what is available rather
 * than a task that can never become ready. The recognizer's own dictionary is used when its folder has one.
 */
export function ocrTaskFor(registry: ModelRegistry): TaskPipeline | null {
  const has = (name: string) => registry.versions(name).length > 0
  if (!has(OCR_MODELS.det) || !has(OCR_MODELS.rec)) return null
  const rec = registry.resolve(OCR_MODELS.rec)
  const dictionary = rec ? join(dirname(rec.modelPath), '..', DICTIONARY_FILE) : null
  return createOcrPipeline({
    detModel: OCR_MODELS.det,
    recModel: OCR_MODELS.rec,
    clsModel: has(OCR_MODELS.cls) ? OCR_MODELS.cls : null,
    ...(dictionary && existsSync(dictionary) ? { dictionaryPath: dictionary } : {}),
    modelInputShape: (name) => registry.resolve(name)?.ready()?.inputs[0]?.shape,
  })
}
