import { TYPED_ARRAY_OF } from '@npu-fleet/protocol'
import type { ModelLoadSpec } from '../backends/backend.js'
import type { Tensor } from '../backends/tensor.js'
import type { FakeOpenvinoOptions } from '../testing/fake-openvino.js'

// What the doctor asks of its OpenVINO child process, and what the child answers. OpenVINO runs in a child so
// that every native call has a hard time limit: a call that never returns (a wedged driver, a compile that
// hangs) is ended by killing the child, which no in-process timer could do for a synchronous native call.

/** Which runtime the child loads: the real `openvino-node`, or the test fake (from `test_hooks` only). */
export type OpenvinoSource = { kind: 'openvino-node' } | { kind: 'fake'; options: FakeOpenvinoOptions }

/** A tensor as bytes, for the pipe between the processes. */
export interface WireTensor {
  datatype: Tensor['datatype']
  /** BYTES: the strings themselves (`base64` is then empty). */
  strings?: string[]
  shape: number[]
  base64: string
}

/** Probe the runtime: load it, list devices, read NPU properties. */
export interface ProbeTask {
  kind: 'probe'
  source: OpenvinoSource
}

/** Compile one model twice (cold into an empty CACHE_DIR, then warm from it) and run its golden input. */
export interface ModelTask {
  kind: 'model'
  source: OpenvinoSource
  /** `cacheDir` is a fresh, empty folder the parent made. */
  spec: ModelLoadSpec
  /** Limit of one compile inside the child (the parent's kill is the backstop). */
  compileTimeoutMs: number
}

/** A task for the child. */
export type OpenvinoTask = ProbeTask | ModelTask

/** The answer to a {@link ProbeTask}. */
export interface ProbeResult {
  kind: 'probe'
  loaded: boolean
  version: string | null
  error: string | null
  devices: string[]
  npuProperties: Record<string, string>
}

/** The answer to a {@link ModelTask}. */
export type ModelResult =
  | {
      kind: 'model'
      ok: true
      device: string
      precision: string
      coldMs: number
      warmMs: number
      cacheFiles: number
      inputs: Record<string, WireTensor>
      outputs: Record<string, WireTensor>
    }
  | { kind: 'model'; ok: false; stage: 'compile' | 'warm-compile' | 'infer'; error: string }

/** The child's answer. */
export type OpenvinoTaskResult = ProbeResult | ModelResult

/** NPU properties the doctor reads (openvino/runtime/intel_npu/properties.hpp and ov::device::*). */
export const NPU_PROPERTIES = [
  'FULL_DEVICE_NAME',
  'DEVICE_ARCHITECTURE',
  'NPU_DRIVER_VERSION',
  'NPU_COMPILER_VERSION',
  'NPU_DEVICE_TOTAL_MEM_SIZE',
  'OPTIMIZATION_CAPABILITIES',
] as const

/** Encodes a tensor's bytes. */
export function toWire(tensor: Tensor): WireTensor {
  if (tensor.datatype === 'BYTES')
    return { datatype: 'BYTES', shape: [...tensor.shape], base64: '', strings: [...tensor.data] }
  const bytes = Buffer.from(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength)
  return { datatype: tensor.datatype, shape: [...tensor.shape], base64: bytes.toString('base64') }
}

/** Decodes a tensor; the bytes are copied into a fresh, aligned buffer. */
export function fromWire(wire: WireTensor): Tensor {
  if (wire.datatype === 'BYTES') return { datatype: 'BYTES', shape: wire.shape, data: wire.strings ?? [] }
  const bytes = Buffer.from(wire.base64, 'base64')
  const copy = new Uint8Array(bytes.byteLength)
  copy.set(bytes)
  const ArrayOf = TYPED_ARRAY_OF[wire.datatype]
  return {
    datatype: wire.datatype,
    shape: wire.shape,
    data: new ArrayOf(copy.buffer, 0, copy.byteLength / ArrayOf.BYTES_PER_ELEMENT),
  }
}

/** Applies `fn` to every value of a record. */
export function mapValues<A, B>(record: Record<string, A>, fn: (value: A) => B): Record<string, B> {
  return Object.fromEntries(Object.entries(record).map(([k, v]) => [k, fn(v)]))
}
