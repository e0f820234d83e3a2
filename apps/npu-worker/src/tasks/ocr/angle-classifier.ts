import { ErrInferenceFailed } from '../../errors.js'
import { lineBatchTensor } from './line-batch-tensor.js'
import { mapLimited } from './map-limited.js'
import { type OcrInfer, soleOutput } from './model-output.js'
import type { LineCrop } from './text-line-crop.js'

/** PP-OCR's `cls_thresh`: a line is turned only when the classifier is this sure it is upside down. */
export const ANGLE_THRESHOLD = 0.9

/**
 * Runs the text-angle classifier (`[N, 3, 48, W]` -> `[N, 2]`, classes 0 and 180 degrees) over crops made
 * at most `width` wide, in batches; true for each line to turn 180 degrees.
 */
export async function upsideDownLines(
  crops: readonly LineCrop[],
  infer: OcrInfer,
  options: { model: string; width: number; batchSize: number; concurrency: number },
): Promise<boolean[]> {
  const batches: LineCrop[][] = []
  for (let i = 0; i < crops.length; i += options.batchSize)
    batches.push(crops.slice(i, i + options.batchSize))
  const answers = await mapLimited(batches, options.concurrency, async (batch) => {
    const call = await infer(options.model, { x: lineBatchTensor(batch, options.width) })
    const probs = soleOutput(call, 2)
    if (probs.shape[0] !== batch.length || probs.shape[1] !== 2) {
      throw new ErrInferenceFailed(
        call.model,
        `returned [${probs.shape}] for ${batch.length} lines; expected [N, 2]`,
      )
    }
    return batch.map(
      (_, i) => probs.data[i * 2 + 1]! > ANGLE_THRESHOLD && probs.data[i * 2 + 1]! > probs.data[i * 2]!,
    )
  })
  return answers.flat()
}
