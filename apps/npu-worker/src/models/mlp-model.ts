import onnxProto from 'onnx-proto'
import { ELEMENT_TYPE, encodeModel, floatInitializer, valueInfo } from './onnx-graph-builder.js'
import { mulberry32 } from './seeded-random.js'

const { onnx } = onnxProto

/** Shape of the generated test/benchmark model: input [N, 384] -> hidden 256 (ReLU) -> output [N, 16]. */
export const MLP_DIMS = { input: 384, hidden: 256, output: 16 } as const
/** Seed of the weights, so every build generates the same bytes. */
export const MLP_SEED = 20_261_123

/** Uniform weights in ±1/sqrt(fanIn) (Kaiming-uniform-like), so outputs stay O(1) for O(1) inputs. */
function weights(rand: () => number, count: number, fanIn: number): Float32Array {
  const bound = 1 / Math.sqrt(fanIn)
  const w = new Float32Array(count)
  for (let i = 0; i < count; i++) w[i] = (rand() * 2 - 1) * bound
  return w
}

/**
 * Builds the small FP32 MLP the worker serves as `mlp` (tests, benchmarks, deploy verification):
 * `output = Gemm(Relu(Gemm(input, W1, b1)), W2, b2)`, batch dimension dynamic. Opset 13, IR version 8.
 * Other `dims` build wider variants (the batching benchmark uses one whose weights do not fit in cache).
 */
export function buildMlpModel(
  seed = MLP_SEED,
  dims: { input: number; hidden: number; output: number } = MLP_DIMS,
): Uint8Array {
  const rand = mulberry32(seed)
  const { input, hidden, output } = dims
  const node = (opType: string, input: string[], output: string, name: string) =>
    onnx.NodeProto.create({ opType, input, output: [output], name })
  return encodeModel({
    name: 'npu_fleet_mlp',
    opset: 13,
    nodes: [
      node('Gemm', ['input', 'w1', 'b1'], 'h', 'fc1'),
      node('Relu', ['h'], 'h_relu', 'relu'),
      node('Gemm', ['h_relu', 'w2', 'b2'], 'output', 'fc2'),
    ],
    initializers: [
      floatInitializer('w1', [input, hidden], weights(rand, input * hidden, input)),
      floatInitializer('b1', [hidden], weights(rand, hidden, input)),
      floatInitializer('w2', [hidden, output], weights(rand, hidden * output, hidden)),
      floatInitializer('b2', [output], weights(rand, output, hidden)),
    ],
    inputs: [valueInfo('input', ELEMENT_TYPE.FLOAT, ['batch', input])],
    outputs: [valueInfo('output', ELEMENT_TYPE.FLOAT, ['batch', output])],
  })
}
