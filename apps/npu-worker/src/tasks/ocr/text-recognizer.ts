import { ErrInferenceFailed } from '../../errors.js'
import type { ModelCallResult } from '../task-pipeline.js'
import type { CtcCharset, DecodedLine } from './ctc-decoder.js'
import { lineBatchTensor } from './line-batch-tensor.js'
import { mapLimited } from './map-limited.js'
import { type OcrInfer, soleOutput } from './model-output.js'
import type { LineCrop } from './text-line-crop.js'

/** PP-OCRv4 recognition's trained input width: narrower batches are padded up to it. */
export const MIN_RECOGNITION_WIDTH = 320

/** How the recognizer batches lines. */
export interface RecognitionOptions {
  model: string
  charset: CtcCharset
  /** Lines per model call. */
  batchSize: number
  /** Model calls in flight at once. */
  concurrency: number
  /** The model's static input width (NPU), or null for dynamic widths. */
  fixedWidth: number | null
}

/**
 * Recognizes line crops (each already at most the model's width) with CTC greedy decoding. Lines are sorted
 * by width and batched so padding stays small, as PP-OCR does; a batch is padded to its widest line, and
 * at least to `MIN_RECOGNITION_WIDTH` (or exactly to the static width). Results come back in input order.
 */
export async function recognizeLines(
  crops: readonly LineCrop[],
  infer: OcrInfer,
  options: RecognitionOptions,
): Promise<{ lines: DecodedLine[]; lastCall: ModelCallResult | null }> {
  const order = crops.map((_, i) => i).sort((a, b) => crops[a]!.width - crops[b]!.width)
  const batches: number[][] = []
  for (let i = 0; i < order.length; i += options.batchSize)
    batches.push(order.slice(i, i + options.batchSize))
  const lines = new Array<DecodedLine>(crops.length)
  let lastCall: ModelCallResult | null = null
  await mapLimited(batches, options.concurrency, async (batch) => {
    const batchCrops = batch.map((i) => crops[i]!)
    const widest = Math.max(...batchCrops.map((c) => c.width))
    const width = options.fixedWidth ?? Math.max(MIN_RECOGNITION_WIDTH, Math.ceil(widest / 8) * 8)
    const call = await infer(options.model, { x: lineBatchTensor(batchCrops, width) })
    lastCall = call
    const probs = soleOutput(call, 3)
    if (probs.shape[0] !== batch.length) {
      throw new ErrInferenceFailed(
        call.model,
        `returned ${probs.shape[0]} lines for a batch of ${batch.length}`,
      )
    }
    let decoded: DecodedLine[]
    try {
      decoded = options.charset.decode(probs)
    } catch (err) {
      throw new ErrInferenceFailed(call.model, (err as Error).message)
    }
    batch.forEach((index, k) => {
      lines[index] = decoded[k]!
    })
  })
  return { lines, lastCall }
}
