import type { Tensor } from '../../backends/tensor.js'
import { ErrInferenceFailed } from '../../errors.js'
import type { ModelCallResult } from '../task-pipeline.js'

/** The model call the OCR stages use (`TaskContext.infer`). */
export type OcrInfer = (model: string, inputs: Record<string, Tensor>) => Promise<ModelCallResult>

/**
 * The one FP32 output of a single-output model (PP-OCR's models each have one), named or not. Any other
 * answer means the repository holds a different model under that name: 500 NPU_ERR_INFERENCE_FAILED.
 */
export function soleOutput(call: ModelCallResult, expectedRank: number): Tensor & { data: Float32Array } {
  const outputs = Object.values(call.outputs)
  const output = outputs[0]
  if (outputs.length !== 1 || !output) {
    throw new ErrInferenceFailed(
      call.model,
      `returned ${outputs.length} outputs; the OCR pipeline expects one`,
    )
  }
  if (!(output.data instanceof Float32Array) || output.shape.length !== expectedRank) {
    throw new ErrInferenceFailed(
      call.model,
      `returned ${output.datatype} [${output.shape}]; the OCR pipeline expects an FP32 tensor of rank ${expectedRank}`,
    )
  }
  return output as Tensor & { data: Float32Array }
}
