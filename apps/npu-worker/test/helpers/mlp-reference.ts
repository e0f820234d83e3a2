import { readFileSync } from 'node:fs'
import onnxProto from 'onnx-proto'

const { onnx } = onnxProto

/**
 * Reference computation of the generated MLP, independent of any runtime: reads the weights back from the
 * ONNX file and evaluates Gemm -> Relu -> Gemm in float64. Tests compare the worker's answers with it.
 */
export function loadMlpReference(
  modelPath: string,
): (input: ArrayLike<number>, batch: number) => Float64Array {
  const model = onnx.ModelProto.decode(readFileSync(modelPath))
  const tensors = new Map<string, { dims: number[]; data: Float32Array }>()
  for (const t of model.graph?.initializer ?? []) {
    const raw = t.rawData as Uint8Array
    const data = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength))
    tensors.set(t.name as string, { dims: (t.dims ?? []).map(Number), data })
  }
  const get = (name: string) => {
    const t = tensors.get(name)
    if (!t) throw new Error(`initializer ${name} missing`)
    return t
  }
  const w1 = get('w1')
  const b1 = get('b1')
  const w2 = get('w2')
  const b2 = get('b2')
  const [inDim, hidden] = w1.dims as [number, number]
  const outDim = w2.dims[1] as number

  return (input, batch) => {
    const out = new Float64Array(batch * outDim)
    const h = new Float64Array(hidden)
    for (let n = 0; n < batch; n++) {
      for (let j = 0; j < hidden; j++) {
        let s = b1.data[j] as number
        for (let i = 0; i < inDim; i++)
          s += (input[n * inDim + i] as number) * (w1.data[i * hidden + j] as number)
        h[j] = Math.max(s, 0)
      }
      for (let k = 0; k < outDim; k++) {
        let s = b2.data[k] as number
        for (let j = 0; j < hidden; j++) s += (h[j] as number) * (w2.data[j * outDim + k] as number)
        out[n * outDim + k] = s
      }
    }
    return out
  }
}
