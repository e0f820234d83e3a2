// worker_threads entry: one ONNX Runtime InferenceSession per thread. `session.run` is synchronous native code
// that blocks its event loop for the whole inference, so it never runs on the server's main thread.
import { parentPort, workerData } from 'node:worker_threads'
import ort from 'onnxruntime-node'
import type { TensorInfo } from './backend.js'
import type { Tensor, TensorArray } from './tensor.js'
import { lowerThreadPriority } from './thread-priority.js'

/** What the main thread passes as `workerData`. */
export interface OnnxThreadData {
  modelPath: string
  threads: number
}

/** Main thread -> thread. */
export type OnnxThreadRequest =
  | { type: 'run'; id: number; inputs: Record<string, Tensor>; outputNames: readonly string[] | null }
  | { type: 'close' }

/** Thread -> main thread. */
export type OnnxThreadReply =
  | { type: 'ready'; inputs: TensorInfo[]; outputs: TensorInfo[] }
  | { type: 'load-error'; message: string }
  | { type: 'result'; id: number; outputs: Record<string, Tensor> }
  | { type: 'error'; id: number; message: string }

type Datatype = Tensor['datatype']
type OrtType = ort.Tensor.Type

const ORT_TYPE_OF: Record<Datatype, OrtType> = {
  BOOL: 'bool',
  UINT8: 'uint8',
  UINT16: 'uint16',
  UINT32: 'uint32',
  UINT64: 'uint64',
  INT8: 'int8',
  INT16: 'int16',
  INT32: 'int32',
  INT64: 'int64',
  FP16: 'float16',
  FP32: 'float32',
  FP64: 'float64',
}

const DATATYPE_OF = new Map<string, Datatype>(
  Object.entries(ORT_TYPE_OF).map(([datatype, ortType]) => [ortType, datatype as Datatype]),
)

function describe(metadata: readonly ort.InferenceSession.ValueMetadata[], kind: string): TensorInfo[] {
  return metadata.map((value) => {
    if (!value.isTensor)
      throw new Error(`${kind} "${value.name}" is not a tensor; only tensors are supported`)
    const datatype = DATATYPE_OF.get(value.type)
    if (!datatype)
      throw new Error(`${kind} "${value.name}" has type ${value.type}, which the worker does not serve`)
    // Symbolic dimensions come as strings; -1 marks them dynamic.
    const shape = value.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : -1))
    return { name: value.name, datatype, shape }
  })
}

/** Copy an output into its own ArrayBuffer when it is a view, so the buffer can be transferred. */
function ownBuffer(data: TensorArray): TensorArray {
  return data.byteOffset === 0 && data.byteLength === data.buffer.byteLength ? data : data.slice()
}

function toTensorArray(datatype: Datatype, data: unknown): TensorArray {
  if (!ArrayBuffer.isView(data) || data instanceof DataView) {
    throw new Error(`ONNX Runtime returned ${datatype} data that is not a typed array`)
  }
  // FP16 may come back as Float16Array on newer Node versions: hand over the raw IEEE half bits.
  if (datatype === 'FP16' && !(data instanceof Uint16Array)) {
    return new Uint16Array(data.buffer, data.byteOffset, data.byteLength / 2)
  }
  return data as TensorArray
}

async function main(port: NonNullable<typeof parentPort>, config: OnnxThreadData): Promise<void> {
  // Before the session exists, so ONNX Runtime's own intra-op threads inherit the lower priority.
  lowerThreadPriority()
  let session: ort.InferenceSession
  try {
    session = await ort.InferenceSession.create(config.modelPath, {
      intraOpNumThreads: config.threads,
      // Parallelism comes from several threads, each with its own session; one inter-op thread each.
      interOpNumThreads: 1,
    })
    port.postMessage({
      type: 'ready',
      inputs: describe(session.inputMetadata, 'input'),
      outputs: describe(session.outputMetadata, 'output'),
    } satisfies OnnxThreadReply)
  } catch (err) {
    port.postMessage({ type: 'load-error', message: messageOf(err) } satisfies OnnxThreadReply)
    port.close()
    return
  }

  port.on('message', async (request: OnnxThreadRequest) => {
    if (request.type === 'close') {
      await session.release()
      port.close()
      return
    }
    try {
      const feeds: Record<string, ort.Tensor> = {}
      for (const [name, tensor] of Object.entries(request.inputs)) {
        feeds[name] = new ort.Tensor(ORT_TYPE_OF[tensor.datatype], tensor.data, tensor.shape)
      }
      const results = request.outputNames
        ? await session.run(feeds, [...request.outputNames])
        : await session.run(feeds)
      const outputs: Record<string, Tensor> = {}
      const transfer: ArrayBuffer[] = []
      for (const [name, value] of Object.entries(results)) {
        const datatype = DATATYPE_OF.get(value.type)
        if (!datatype)
          throw new Error(`output "${name}" has type ${value.type}, which the worker does not serve`)
        const data = ownBuffer(toTensorArray(datatype, value.data))
        outputs[name] = { datatype, shape: [...value.dims], data }
        transfer.push(data.buffer as ArrayBuffer)
      }
      port.postMessage({ type: 'result', id: request.id, outputs } satisfies OnnxThreadReply, transfer)
    } catch (err) {
      port.postMessage({ type: 'error', id: request.id, message: messageOf(err) } satisfies OnnxThreadReply)
    }
  })
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

if (parentPort) void main(parentPort, workerData as OnnxThreadData)
