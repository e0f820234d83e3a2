import { writeFileSync } from 'node:fs'
import onnxProto from 'onnx-proto'

const { onnx } = onnxProto
const { FLOAT16, BOOL } = onnx.TensorProto.DataType

function value(name: string, elemType: number, dims: number[]) {
  return onnx.ValueInfoProto.create({
    name,
    type: { tensorType: { elemType, shape: { dim: dims.map((d) => ({ dimValue: d })) } } },
  })
}

/**
 * Writes a small ONNX model with FP16 and BOOL ports, the element types openvino-node cannot exchange with
 * JavaScript: `doubled = half * 2` (FP16 [1,4] -> FP16 [1,4]) and `inverted = Not(flag)` (BOOL [1,4] -> BOOL).
 */
export function writeTypedIoModel(path: string): void {
  const two = new Uint16Array([0x4000]) // 2.0 as IEEE half bits
  const graph = onnx.GraphProto.create({
    name: 'typed_io',
    node: [
      onnx.NodeProto.create({ opType: 'Mul', input: ['half', 'two'], output: ['doubled'], name: 'double' }),
      onnx.NodeProto.create({ opType: 'Not', input: ['flag'], output: ['inverted'], name: 'invert' }),
    ],
    initializer: [
      onnx.TensorProto.create({
        name: 'two',
        dims: [],
        dataType: FLOAT16,
        rawData: new Uint8Array(two.buffer),
      }),
    ],
    input: [value('half', FLOAT16, [1, 4]), value('flag', BOOL, [1, 4])],
    output: [value('doubled', FLOAT16, [1, 4]), value('inverted', BOOL, [1, 4])],
  })
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'npu-fleet-tests',
    opsetImport: [{ domain: '', version: 13 }],
    graph,
  })
  writeFileSync(path, onnx.ModelProto.encode(model).finish())
}
