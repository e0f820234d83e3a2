import onnxProto from 'onnx-proto'

const { onnx } = onnxProto

/** An ONNX node as onnx-proto builds it. */
export type NodeProto = InstanceType<typeof onnx.NodeProto>
/** An ONNX tensor (initializer) as onnx-proto builds it. */
export type TensorProto = InstanceType<typeof onnx.TensorProto>
/** An ONNX attribute as onnx-proto builds it. */
export type AttributeProto = InstanceType<typeof onnx.AttributeProto>
/** An ONNX graph input or output as onnx-proto builds it. */
export type ValueInfoProto = InstanceType<typeof onnx.ValueInfoProto>

/** ONNX element types the generated graphs use. */
export const ELEMENT_TYPE = {
  FLOAT: onnx.TensorProto.DataType.FLOAT,
  FLOAT16: onnx.TensorProto.DataType.FLOAT16,
  INT64: onnx.TensorProto.DataType.INT64,
  BOOL: onnx.TensorProto.DataType.BOOL,
} as const

/** An `INTS` attribute. */
export function intsAttribute(name: string, ints: readonly number[]): AttributeProto {
  return onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.INTS, ints: [...ints] })
}

/** An `INT` attribute. */
export function intAttribute(name: string, i: number): AttributeProto {
  return onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.INT, i })
}

/** A graph input or output; string dimensions are symbolic (dynamic). */
export function valueInfo(
  name: string,
  elemType: number,
  dims: ReadonlyArray<number | string>,
): ValueInfoProto {
  return onnx.ValueInfoProto.create({
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  })
}

/** A float initializer with the given values (raw little-endian data). */
export function floatInitializer(name: string, dims: readonly number[], data: Float32Array): TensorProto {
  return onnx.TensorProto.create({
    name,
    dims: [...dims],
    dataType: onnx.TensorProto.DataType.FLOAT,
    rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
  })
}

/** What {@link encodeModel} writes: one graph of the default domain. */
export interface ModelParts {
  name: string
  docString?: string
  opset: number
  nodes: readonly NodeProto[]
  initializers: readonly TensorProto[]
  inputs: readonly ValueInfoProto[]
  outputs: readonly ValueInfoProto[]
}

/** Encodes a model: one graph, opset `opset` of the default domain, IR version 8, producer `npu-fleet`. */
export function encodeModel(parts: ModelParts): Uint8Array {
  const graph = onnx.GraphProto.create({
    name: parts.name,
    node: [...parts.nodes],
    initializer: [...parts.initializers],
    input: [...parts.inputs],
    output: [...parts.outputs],
  })
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'npu-fleet',
    ...(parts.docString ? { docString: parts.docString } : {}),
    opsetImport: [{ domain: '', version: parts.opset }],
    graph,
  })
  return onnx.ModelProto.encode(model).finish()
}

/**
 * Collects the nodes and initializers of a graph while it is written: every op returns the name of its
 * output, so a graph reads like the formula it computes. Used by every model the build generates.
 */
export class OnnxGraphBuilder {
  readonly nodes: NodeProto[] = []
  readonly initializers: TensorProto[] = []
  #counter = 0

  /** A float initializer with the given values. */
  floats(name: string, dims: readonly number[], data: Float32Array): string {
    this.initializers.push(floatInitializer(name, dims, data))
    return name
  }

  /** A float scalar initializer. */
  scalar(name: string, value: number): string {
    return this.floats(name, [], Float32Array.of(value))
  }

  /** An int64 initializer: a vector, or a scalar when `scalar` is set. */
  ints(name: string, values: readonly number[], scalar = false): string {
    const data = BigInt64Array.from(values, (v) => BigInt(v))
    this.initializers.push(
      onnx.TensorProto.create({
        name,
        dims: scalar ? [] : [values.length],
        dataType: onnx.TensorProto.DataType.INT64,
        rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
      }),
    )
    return name
  }

  /** Adds a node with one output; returns the output's name (`output` when given, else a fresh one). */
  op(
    opType: string,
    inputs: readonly string[],
    attributes: readonly AttributeProto[] = [],
    output?: string,
  ): string {
    const out = output ?? `${opType.toLowerCase()}_${this.#counter++}`
    this.nodes.push(
      onnx.NodeProto.create({
        opType,
        input: [...inputs],
        output: [out],
        name: out,
        attribute: [...attributes],
      }),
    )
    return out
  }

  /** Encodes the model built so far (see {@link encodeModel}). */
  encode(options: Omit<ModelParts, 'nodes' | 'initializers'>): Uint8Array {
    return encodeModel({ ...options, nodes: this.nodes, initializers: this.initializers })
  }
}
