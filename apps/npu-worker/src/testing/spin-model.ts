import onnxProto from 'onnx-proto'
import { encodeModel, valueInfo } from '../models/onnx-graph-builder.js'

const { onnx } = onnxProto
const { DataType } = onnx.TensorProto

/** Loop iterations that keep ONNX Runtime inside one `session.run` for hours (about 1 µs each here). */
export const SPIN_FOREVER = 2n ** 40n

/**
 * A model whose inference takes as long as its caller asks, inside native code: `y = x + iterations`, computed
 * by an ONNX `Loop` that adds 1 to `x` `iterations` times (about 1 µs per iteration with ONNX Runtime on these
 * machines). With {@link SPIN_FOREVER} it is a real native hang: nothing but the end of `run` stops it. Inputs
 * `iterations` INT64 [1] and `x` FP32 [n]; output `y` FP32 [n]. Opset 13.
 */
export function buildSpinModel(): Uint8Array {
  const body = onnx.GraphProto.create({
    name: 'spin_body',
    node: [
      onnx.NodeProto.create({ opType: 'Identity', input: ['cond_in'], output: ['cond_out'] }),
      onnx.NodeProto.create({ opType: 'Add', input: ['acc_in', 'one'], output: ['acc_out'] }),
    ],
    initializer: [
      onnx.TensorProto.create({ name: 'one', dims: [], dataType: DataType.FLOAT, floatData: [1] }),
    ],
    input: [
      valueInfo('i', DataType.INT64, []),
      valueInfo('cond_in', DataType.BOOL, []),
      valueInfo('acc_in', DataType.FLOAT, ['n']),
    ],
    output: [valueInfo('cond_out', DataType.BOOL, []), valueInfo('acc_out', DataType.FLOAT, ['n'])],
  })
  return encodeModel({
    name: 'npu_fleet_spin',
    opset: 13,
    nodes: [
      onnx.NodeProto.create({
        opType: 'Loop',
        input: ['iterations', 'keep_going', 'x'],
        output: ['y'],
        attribute: [{ name: 'body', type: onnx.AttributeProto.AttributeType.GRAPH, g: body }],
      }),
    ],
    initializers: [
      onnx.TensorProto.create({ name: 'keep_going', dims: [], dataType: DataType.BOOL, int32Data: [1] }),
    ],
    inputs: [valueInfo('iterations', DataType.INT64, [1]), valueInfo('x', DataType.FLOAT, ['n'])],
    outputs: [valueInfo('y', DataType.FLOAT, ['n'])],
  })
}
