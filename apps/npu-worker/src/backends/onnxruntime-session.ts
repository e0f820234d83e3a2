// The ONNX Runtime side of one inference thread: one InferenceSession, created when the thread starts.
// `session.run` is synchronous native code that blocks its event loop for the whole inference, so it never
// runs on the server's main thread. The entry file (onnxruntime-thread.ts) serves it with serveThread.

import type { Datatype, TensorArray } from '@npu-fleet/protocol'
import ort from 'onnxruntime-node'
import type { ThreadService } from '../threads/thread-service.js'
import type { TensorInfo } from './backend.js'
import type { Tensor } from './tensor.js'
import { lowerThreadPriority } from './thread-priority.js'

/** What the main thread passes as `workerData`. */
export interface OnnxThreadData {
  modelPath: string
  threads: number
  /** Model name and version, for thread names and for test entries that act per model. */
  model: { name: string; version: string }
  /** Settings of an injected test entry (src/testing/); the real entry ignores them. */
  extra?: unknown
}

/** One inference: inputs by name, and the outputs wanted (null: all). */
export interface OnnxRunRequest {
  inputs: Record<string, Tensor>
  outputNames: readonly string[] | null
  /** Hand the inputs' buffers back with the reply, for the main thread to reuse. */
  returnInputs: boolean
}

/** Outputs of one inference, by name (buffers transferred), and the input buffers handed back, if asked. */
export interface OnnxRunReply {
  outputs: Record<string, Tensor>
  inputBuffers: ArrayBuffer[]
}

/** What a started session reports: its inputs and outputs. */
export interface OnnxSessionInfo {
  inputs: TensorInfo[]
  outputs: TensorInfo[]
}

type OrtType = ort.Tensor.Type

// No BF16: onnxruntime-node has no bfloat16 tensors, so a model with a bfloat16 port is refused at load (the
// fallback chain says so). BYTES ports are string tensors.
const ORT_TYPE_OF: Record<Exclude<Datatype, 'BF16'>, OrtType> = {
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
  BYTES: 'string',
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

function toTensorArray(datatype: Exclude<Datatype, 'BYTES'>, data: unknown): TensorArray {
  if (!ArrayBuffer.isView(data) || data instanceof DataView) {
    throw new Error(`ONNX Runtime returned ${datatype} data that is not a typed array`)
  }
  // FP16 may come back as Float16Array on newer Node versions: hand over the raw IEEE half bits.
  if (datatype === 'FP16' && !(data instanceof Uint16Array)) {
    return new Uint16Array(data.buffer, data.byteOffset, data.byteLength / 2)
  }
  return data as TensorArray
}

/** The service of one ONNX Runtime thread: its session, created at start, run once per call. */
export function createOnnxSessionService(
  data: unknown,
): ThreadService<OnnxRunRequest, OnnxRunReply, OnnxSessionInfo> {
  const config = data as OnnxThreadData
  let session: ort.InferenceSession | null = null
  return {
    async start() {
      // Before the session exists, so ONNX Runtime's own intra-op threads inherit the lower priority.
      lowerThreadPriority()
      try {
        session = await ort.InferenceSession.create(config.modelPath, {
          intraOpNumThreads: config.threads,
          // Parallelism comes from several threads, each with its own session; one inter-op thread each.
          interOpNumThreads: 1,
        })
      } catch (err) {
        throw new Error(messageOf(err))
      }
      return {
        inputs: describe(session.inputMetadata, 'input'),
        outputs: describe(session.outputMetadata, 'output'),
      }
    },
    async handle(request) {
      if (!session) throw new Error('the session is not started')
      const feeds: Record<string, ort.Tensor> = {}
      for (const [name, tensor] of Object.entries(request.inputs)) {
        if (tensor.datatype === 'BYTES') feeds[name] = new ort.Tensor('string', tensor.data, tensor.shape)
        else if (tensor.datatype === 'BF16')
          throw new Error(`input "${name}": onnxruntime-node has no bfloat16 tensors`)
        else feeds[name] = new ort.Tensor(ORT_TYPE_OF[tensor.datatype], tensor.data, tensor.shape)
      }
      const results = request.outputNames
        ? await session.run(feeds, [...request.outputNames])
        : await session.run(feeds)
      const outputs: Record<string, Tensor> = {}
      const transfer: ArrayBuffer[] = []
      // `run` has returned, so ONNX Runtime holds no pointer into the inputs any more; several inputs may
      // view one buffer (a binary body), which goes back once.
      const inputBuffers = request.returnInputs ? transferredInputBuffers(request.inputs) : []
      transfer.push(...inputBuffers)
      for (const [name, value] of Object.entries(results)) {
        const datatype = DATATYPE_OF.get(value.type)
        if (!datatype)
          throw new Error(`output "${name}" has type ${value.type}, which the worker does not serve`)
        if (datatype === 'BYTES') {
          outputs[name] = { datatype, shape: [...value.dims], data: [...(value.data as string[])] }
          continue
        }
        const data = ownBuffer(toTensorArray(datatype, value.data))
        outputs[name] = { datatype, shape: [...value.dims], data }
        transfer.push(data.buffer as ArrayBuffer)
      }
      return { reply: { outputs, inputBuffers }, transfer }
    },
    async close() {
      await session?.release()
      session = null
    },
  }
}

/** The distinct buffers of the inputs that came transferred (every one but strings). */
function transferredInputBuffers(inputs: Readonly<Record<string, Tensor>>): ArrayBuffer[] {
  const buffers = new Set<ArrayBuffer>()
  for (const tensor of Object.values(inputs)) {
    if (tensor.datatype !== 'BYTES') buffers.add(tensor.data.buffer as ArrayBuffer)
  }
  return [...buffers]
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
