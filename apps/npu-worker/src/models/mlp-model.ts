import onnxProto from 'onnx-proto'
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

function initializer(name: string, dims: number[], data: Float32Array) {
  return onnx.TensorProto.create({
    name,
    dims,
    dataType: onnx.TensorProto.DataType.FLOAT,
    rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
  })
}

function valueInfo(name: string, dims: Array<number | string>) {
  return onnx.ValueInfoProto.create({
    name,
    type: {
      tensorType: {
        elemType: onnx.TensorProto.DataType.FLOAT,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  })
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
  const graph = onnx.GraphProto.create({
    name: 'npu_fleet_mlp',
    node: [
      onnx.NodeProto.create({ opType: 'Gemm', input: ['input', 'w1', 'b1'], output: ['h'], name: 'fc1' }),
      onnx.NodeProto.create({ opType: 'Relu', input: ['h'], output: ['h_relu'], name: 'relu' }),
      onnx.NodeProto.create({
        opType: 'Gemm',
        input: ['h_relu', 'w2', 'b2'],
        output: ['output'],
        name: 'fc2',
      }),
    ],
    initializer: [
      initializer('w1', [input, hidden], weights(rand, input * hidden, input)),
      initializer('b1', [hidden], weights(rand, hidden, input)),
      initializer('w2', [hidden, output], weights(rand, hidden * output, hidden)),
      initializer('b2', [output], weights(rand, output, hidden)),
    ],
    input: [valueInfo('input', ['batch', input])],
    output: [valueInfo('output', ['batch', output])],
  })
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'npu-fleet',
    opsetImport: [{ domain: '', version: 13 }],
    graph,
  })
  return onnx.ModelProto.encode(model).finish()
}
