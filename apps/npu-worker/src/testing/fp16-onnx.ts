import onnxProto from 'onnx-proto'
import { fromHalfBits, toHalfBits } from '../kserve/half-float.js'

const { onnx } = onnxProto
const FLOAT = onnx.TensorProto.DataType.FLOAT
const FLOAT16 = onnx.TensorProto.DataType.FLOAT16
const BFLOAT16 = onnx.TensorProto.DataType.BFLOAT16
const INT64 = onnx.TensorProto.DataType.INT64
const BOOL = onnx.TensorProto.DataType.BOOL

// Emulates a device that computes in FP16 (the NPU, the GPU by default) on ONNX Runtime's FP32 kernels, by
// rewriting the model: every FP32 weight (initializers and Constant nodes) is rounded to the nearest half, and
// every FP32 activation (graph inputs and node outputs) passes through Cast(to=float16) -> Cast(to=float), so
// it is stored as a half between operators. Inside an operator ONNX Runtime still accumulates in FP32 ("wide
// accumulation", as the NPU's MAC arrays and the GPU's FP16 kernels do with FP32 or wider accumulators).
//
// Operator fusion is modelled where skipping it would mislead: OpenVINO folds a BatchNormalization into the
// Convolution before it (FP32 at compile time: W' = W * s, b' = (b - mean) * s + beta, s = gamma /
// sqrt(var + eps)), and only then are W' and b' stored in half. So the fold is done here first, in FP32, and
// the folded weights are rounded like all others. Rounding the BatchNormalization's own parameters instead
// would be wrong and catastrophic: PP-OCR's detector has a Conv output of magnitude 2.3e4 whose BN mean, 2.3e4
// (half ulp 16), shifts it back to O(1).
//
// Which values are FP32 is found by propagating element types through the graph (ONNX files often carry no
// value_info): each node's output type follows from its inputs by the operator's type rule below. An operator
// that is not in the tables gets outputs of unknown type, which are left unrounded: the emulation may then be
// milder than the device, never wrong about a type (a Cast on an integer tensor would break the model).

/** Operators whose every output has the element type of their first input. */
const SAME_AS_FIRST_INPUT = new Set(
  [
    'Abs Add AveragePool BatchNormalization Ceil Celu Clip Concat Conv ConvTranspose CumSum',
    'DepthToSpace Div Dropout Einsum Elu Erf Exp Expand Flatten Floor Gather GatherElements GatherND',
    'Gelu Gemm GlobalAveragePool GlobalMaxPool HardSigmoid HardSwish Identity InstanceNormalization',
    'LayerNormalization LeakyRelu Log LogSoftmax LpNormalization LRN MatMul Max Mean Min Mish Mod Mul',
    'Neg Pad Pow PRelu Range Reciprocal ReduceL1 ReduceL2 ReduceLogSumExp ReduceMax ReduceMean',
    'ReduceMin ReduceProd ReduceSum ReduceSumSquare Relu Reshape Resize Round ScatterElements',
    'ScatterND Selu Sigmoid Sign Sin Cos Slice Softmax Softplus Softsign SpaceToDepth Split Sqrt',
    'Squeeze Sub Sum Tanh Tile Transpose Trilu Unsqueeze Upsample',
  ]
    .join(' ')
    .split(' '),
)
/** Operators whose outputs are INT64 whatever their inputs. */
const INT64_OUTPUTS = new Set(['ArgMax', 'ArgMin', 'NonZero', 'Shape', 'Size'])
/** Operators whose outputs are BOOL. */
const BOOL_OUTPUTS = new Set(
  'And Equal Greater GreaterOrEqual IsInf IsNaN Less LessOrEqual Not Or Xor'.split(' '),
)

type NodeProto = onnxProto.onnx.INodeProto
type TensorProto = onnxProto.onnx.ITensorProto

/** Element types of a node's outputs, or null for those the tables cannot tell. */
function outputTypes(node: NodeProto, typeOf: (name: string) => number | null): (number | null)[] {
  const op = node.opType ?? ''
  const n = node.output?.length ?? 0
  const attr = (name: string) => node.attribute?.find((a) => a.name === name)
  const all = (t: number | null) => Array.from({ length: n }, () => t)
  if (op === 'Constant') {
    const value = attr('value')?.t
    if (value) return all(value.dataType ?? null)
    if (attr('value_float') || attr('value_floats')) return all(FLOAT)
    if (attr('value_int') || attr('value_ints')) return all(INT64)
    return all(null)
  }
  if (op === 'Cast') return all(Number(attr('to')?.i ?? Number.NaN) || null)
  if (op === 'ConstantOfShape') return all(attr('value')?.t?.dataType ?? FLOAT)
  if (INT64_OUTPUTS.has(op)) return all(INT64)
  if (BOOL_OUTPUTS.has(op)) return all(BOOL)
  if (op === 'Where') return all(typeOf(node.input?.[1] ?? ''))
  // Values, then indices.
  if (op === 'TopK' || op === 'MaxPool') return [typeOf(node.input?.[0] ?? ''), INT64].slice(0, n)
  if (SAME_AS_FIRST_INPUT.has(op)) return all(typeOf(node.input?.[0] ?? ''))
  return all(null)
}

/** The values of an FP32 tensor (raw bytes or float_data), copied. */
function floatsOf(tensor: TensorProto): Float32Array {
  const raw = tensor.rawData
  if (raw && raw.length > 0) return new Float32Array(raw.slice().buffer, 0, raw.length / 4)
  return Float32Array.from(tensor.floatData ?? [])
}

/**
 * Folds every BatchNormalization that alone reads a Conv's output into that Conv, in FP32, when all its
 * parameters and the Conv's weights are constants (OpenVINO's Conv/BN fusion). Returns how many it folded.
 */
function foldBatchNorms(graph: onnxProto.onnx.IGraphProto): number {
  const constants = new Map<string, TensorProto>()
  for (const t of graph.initializer ?? []) constants.set(t.name ?? '', t)
  for (const node of graph.node ?? []) {
    const value = node.opType === 'Constant' ? node.attribute?.find((a) => a.name === 'value')?.t : null
    if (value && node.output?.[0]) constants.set(node.output[0], value)
  }
  const readers = new Map<string, number>()
  for (const node of graph.node ?? [])
    for (const i of node.input ?? []) readers.set(i, (readers.get(i) ?? 0) + 1)
  const producers = new Map<string, NodeProto>()
  for (const node of graph.node ?? []) for (const o of node.output ?? []) producers.set(o, node)
  const graphOutputs = new Set((graph.output ?? []).map((o) => o.name ?? ''))
  const removed = new Set<NodeProto>()
  let folded = 0
  for (const bn of graph.node ?? []) {
    if (bn.opType !== 'BatchNormalization' || (bn.output?.length ?? 0) !== 1) continue
    const [x, scaleName, biasName, meanName, varName] = bn.input ?? []
    const conv = x ? producers.get(x) : undefined
    if (conv?.opType !== 'Conv' || readers.get(x!) !== 1 || graphOutputs.has(x!)) continue
    const [convIn, wName, bName] = conv.input ?? []
    const tensors = [wName, scaleName, biasName, meanName, varName].map((n) =>
      n ? constants.get(n) : undefined,
    )
    const convBias = bName ? constants.get(bName) : undefined
    if (tensors.some((t) => !t || t.dataType !== FLOAT) || (bName && convBias?.dataType !== FLOAT)) continue
    const [w, scale, beta, mean, variance] = tensors.map((t) => floatsOf(t!)) as Float32Array[]
    const channels = scale!.length
    const eps = bn.attribute?.find((a) => a.name === 'epsilon')?.f ?? 1e-5
    const b = convBias ? floatsOf(convBias) : new Float32Array(channels)
    const perChannel = w!.length / channels
    const folded1 = new Float32Array(w!.length)
    const bias = new Float32Array(channels)
    for (let k = 0; k < channels; k++) {
      const factor = scale![k]! / Math.sqrt(variance![k]! + eps)
      for (let j = 0; j < perChannel; j++) folded1[k * perChannel + j] = w![k * perChannel + j]! * factor
      bias[k] = (b[k]! - mean![k]!) * factor + beta![k]!
    }
    const tensor = (name: string, dims: TensorProto['dims'], data: Float32Array) =>
      onnx.TensorProto.create({ name, dims, dataType: FLOAT, rawData: new Uint8Array(data.buffer) })
    const wFolded = `${conv.name || wName}__bn_folded_w`
    const bFolded = `${conv.name || wName}__bn_folded_b`
    graph.initializer = [
      ...(graph.initializer ?? []),
      tensor(wFolded, constants.get(wName!)!.dims ?? [], folded1),
      tensor(bFolded, [channels], bias),
    ]
    conv.input = [convIn!, wFolded, bFolded]
    conv.output = [bn.output![0]!]
    removed.add(bn)
    folded++
  }
  // Drop the Constants only the folded pairs read (ONNX Runtime would warn about each).
  const read = new Set<string>()
  for (const node of graph.node ?? []) if (!removed.has(node)) for (const i of node.input ?? []) read.add(i)
  for (const o of graph.output ?? []) read.add(o.name ?? '')
  graph.node = (graph.node ?? []).filter(
    (n) => !removed.has(n) && !(n.opType === 'Constant' && !read.has(n.output?.[0] ?? '')),
  )
  return folded
}

const f32 = new Float32Array(1)
const u32 = new Uint32Array(f32.buffer)

/** Rounds to the nearest bfloat16 (the upper 16 bits of an FP32, ties to even). */
export function roundToBf16(x: number): number {
  f32[0] = x
  const bits = u32[0]!
  if ((bits & 0x7f800000) === 0x7f800000) return f32[0]! // Inf, NaN
  u32[0] = ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) << 16
  return f32[0]!
}

/** Rounds to the nearest IEEE half. */
export function roundToFp16(x: number): number {
  return fromHalfBits(toHalfBits(x))
}

/** Rounds an FP32 tensor's values to the narrow type, in place (raw bytes or float_data). */
function roundTensorToHalf(tensor: TensorProto, round: (x: number) => number): void {
  if (tensor.dataType !== FLOAT) return
  const raw = tensor.rawData
  if (raw && raw.length > 0) {
    const copy = new Uint8Array(raw.length)
    copy.set(raw)
    const values = new Float32Array(copy.buffer)
    for (let i = 0; i < values.length; i++) values[i] = round(values[i]!)
    tensor.rawData = copy
  } else if (tensor.floatData && tensor.floatData.length > 0) {
    tensor.floatData = tensor.floatData.map(round)
  }
}

/** What {@link emulateFp16} changed, for tests and measurements. */
export interface Fp16Rewrite {
  /** The rewritten model. */
  model: Uint8Array
  /** Conv + BatchNormalization pairs folded into one Conv (as OpenVINO compiles them). */
  foldedBatchNorms: number
  /** FP32 weights rounded (initializers plus Constant nodes). */
  roundedWeights: number
  /** FP32 activations rounded (graph inputs plus node outputs). */
  roundedActivations: number
  /** Node outputs whose type the tables could not tell (left unrounded). */
  untypedOutputs: number
}

/**
 * Rewrites an ONNX model so that ONNX Runtime computes it as an FP16 device does: weights, inputs and
 * activations rounded to half, accumulation in FP32. Integer, boolean and FP64 values are untouched.
 */
export function emulateFp16(
  modelBytes: Uint8Array,
  /** `f16` (NPU, GPU) or `bf16` (a CPU with AMX). */
  precision: 'f16' | 'bf16' = 'f16',
): Fp16Rewrite {
  const round = precision === 'f16' ? roundToFp16 : roundToBf16
  const NARROW = precision === 'f16' ? FLOAT16 : BFLOAT16
  const model = onnx.ModelProto.decode(modelBytes)
  const graph = model.graph
  if (!graph) throw new Error('ONNX model without a graph')
  const opset = Number(model.opsetImport?.find((o) => !o.domain)?.version ?? 0)
  if (precision === 'bf16' && opset < 13) {
    throw new Error(
      `bfloat16 emulation needs opset 13 or later (Cast to bfloat16); this model has opset ${opset}`,
    )
  }
  const foldedBatchNorms = foldBatchNorms(graph)
  const types = new Map<string, number>()
  const typeOf = (name: string) => types.get(name) ?? null
  let roundedWeights = 0
  let roundedActivations = 0
  let untypedOutputs = 0

  for (const init of graph.initializer ?? []) {
    types.set(init.name ?? '', init.dataType ?? 0)
    if (init.dataType === FLOAT) {
      roundTensorToHalf(init, round)
      roundedWeights++
    }
  }
  const initializerNames = new Set((graph.initializer ?? []).map((t) => t.name ?? ''))
  for (const input of graph.input ?? []) {
    const elemType = input.type?.tensorType?.elemType
    if (elemType !== undefined && elemType !== null) types.set(input.name ?? '', elemType)
  }

  const cast = (input: string, output: string, to: number, name: string) =>
    onnx.NodeProto.create({
      opType: 'Cast',
      name,
      input: [input],
      output: [output],
      attribute: [{ name: 'to', type: onnx.AttributeProto.AttributeType.INT, i: to }],
    })
  const nodes: NodeProto[] = []
  // Graph inputs: consumers read a rounded copy (the input keeps its name, so callers feed it unchanged).
  const renamed = new Map<string, string>()
  for (const input of graph.input ?? []) {
    const name = input.name ?? ''
    if (initializerNames.has(name) || typeOf(name) !== FLOAT) continue
    const half = `${name}__fp16emu_half`
    const rounded = `${name}__fp16emu`
    nodes.push(cast(name, half, NARROW, `${half}_cast`), cast(half, rounded, FLOAT, `${rounded}_cast`))
    renamed.set(name, rounded)
    types.set(rounded, FLOAT)
    roundedActivations++
  }
  for (const node of graph.node ?? []) {
    node.input = (node.input ?? []).map((name) => renamed.get(name) ?? name)
    if (node.opType === 'Constant') {
      const value = node.attribute?.find((a) => a.name === 'value')?.t
      if (value?.dataType === FLOAT) {
        roundTensorToHalf(value, round)
        roundedWeights++
      }
      for (const a of node.attribute ?? []) {
        if (a.name === 'value_float') a.f = round(a.f ?? 0)
        if (a.name === 'value_floats') a.floats = (a.floats ?? []).map(round)
      }
    }
    const outTypes = outputTypes(node, typeOf)
    const casts: NodeProto[] = []
    node.output = (node.output ?? []).map((name, i) => {
      const t = outTypes[i] ?? null
      if (name === '') return name
      if (t === null) {
        untypedOutputs++
        return name
      }
      types.set(name, t)
      // Constants were rounded above; their Casts would only round again.
      if (t !== FLOAT || node.opType === 'Constant') return name
      const wide = `${name}__fp16emu_wide`
      const half = `${name}__fp16emu_half`
      casts.push(cast(wide, half, NARROW, `${half}_cast`), cast(half, name, FLOAT, `${name}__fp16emu_cast`))
      roundedActivations++
      return wide
    })
    nodes.push(node, ...casts)
  }
  graph.node = nodes
  // value_info for renamed tensors would now be wrong about their names; shapes are re-inferred anyway.
  graph.valueInfo = []
  return {
    model: onnx.ModelProto.encode(model).finish(),
    foldedBatchNorms,
    roundedWeights,
    roundedActivations,
    untypedOutputs,
  }
}
