import { elementCount, TYPED_ARRAY_OF } from '@npu-fleet/protocol'
import type { TensorInfo } from '../backends/backend.js'
import type { Tensor } from '../backends/tensor.js'
import { toBfloat16Bits } from '../kserve/bfloat16.js'
import { toHalfBits } from '../kserve/half-float.js'

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
