import { elementCount, TYPED_ARRAY_OF } from '@npu-fleet/protocol'
import type { TensorInfo } from '../backends/backend.js'
import type { Tensor } from '../backends/tensor.js'
import { toBfloat16Bits } from '../kserve/bfloat16.js'
import { toHalfBits } from '../kserve/half-float.js'

/**
 * The largest dynamic dimension of the golden input of a model ONNX Runtime serves on the CPU. ONNX Runtime's
 * CPU arena keeps the peak of the largest run a session ever made, so a self-test at the NPU's static shape
 * (1×3×640×640 for the detector) would leave every served session holding more than its traffic needs. 64
 * keeps a stride-32 network's deepest feature map at 2×2 (every tap of its 3×3 kernels still meets the input)
 * and, being a multiple of every power of two up to 64, keeps the alignment such networks need.
 */
export const CPU_GOLDEN_DIM_LIMIT = 64

/**
 * The golden input's shapes on ONNX Runtime on the CPU, whose session accepts every size its dynamic
 * dimensions allow: the static shapes with each dimension that is dynamic in the model cut to
 * {@link CPU_GOLDEN_DIM_LIMIT} (1×3×64×64 for the detector). Inputs without a static shape keep their lower
 * bounds (goldenInputs' default). The NPU and `npu-worker doctor` keep the static shapes: they compile them.
 */
export function cpuGoldenShapes(
  inputs: readonly TensorInfo[],
  staticShapes: Readonly<Record<string, readonly number[]>>,
): Record<string, number[]> {
  const out: Record<string, number[]> = {}
  for (const info of inputs) {
    const dims = staticShapes[info.name]
    if (!dims) continue
    out[info.name] = dims.map((d, axis) =>
      (info.shape[axis] ?? 0) < 0 ? Math.min(d, CPU_GOLDEN_DIM_LIMIT) : d,
    )
  }
  return out
}

/**
 * A deterministic input for every model input, the same on every host and run: `npu-worker doctor` and the
 * worker's output self-test (golden-case.ts) compare the device's answer to it with ONNX Runtime's. Floats vary
 * smoothly in [-0.9, 0.9] (the normalised range of image models; never all equal, so a transposed or shuffled
 * layer shows); integers are 0/1 (valid token, mask and type ids for any vocabulary); booleans alternate.
 * Dynamic dimensions take `shapes`, else the lower end of their bound, else 1.
 */
export function goldenInputs(
  inputs: readonly TensorInfo[],
  /** Shapes for inputs with dynamic dimensions (`static_shapes` of model.yaml), by input name. */
  shapes: Readonly<Record<string, readonly number[]>> = {},
): Record<string, Tensor> {
  const out: Record<string, Tensor> = {}
  for (const [k, info] of inputs.entries()) {
    const shape = [
      ...(shapes[info.name] ??
        info.shape.map((d, axis) => (d > 0 ? d : Math.max(1, info.bounds?.[axis]?.[0] ?? 1)))),
    ]
    const n = elementCount(shape)
    if (info.datatype === 'BYTES') {
      // Text of varying length (the empty string included), different per input and element.
      out[info.name] = {
        datatype: 'BYTES',
        shape,
        data: Array.from({ length: n }, (_, i) => `${'golden·'.repeat(i % 3)}${k}:${i}`),
      }
      continue
    }
    const data = new TYPED_ARRAY_OF[info.datatype](n)
    for (let i = 0; i < n; i++) {
      const x = 0.9 * Math.sin(i * 0.37 + k + 0.5 * Math.sin(i * 0.011))
      switch (info.datatype) {
        case 'FP32':
        case 'FP64':
          data[i] = x
          break
        case 'FP16':
          data[i] = toHalfBits(x)
          break
        case 'BF16':
          data[i] = toBfloat16Bits(x)
          break
        case 'INT64':
        case 'UINT64':
          data[i] = BigInt(i % 3 === 0 ? 1 : 0)
          break
        default:
          data[i] = i % 3 === 0 ? 1 : 0
      }
    }
    out[info.name] = { datatype: info.datatype, shape, data }
  }
  return out
}
