import ort from 'onnxruntime-node'
import { fromHalfBits } from '../kserve/half-float.js'
import type { CacheArray, CacheShape } from './batched-kv-cache.js'
import type { DecoderFeeds, DecoderOutput, DecoderRunner } from './continuous-batcher.js'
import type { CacheOutputKind, DecoderLayout } from './decoder-layout.js'

/** Float32 logits from the session's output (float16 converted from its half bits). */
function logitsAsFloat32(tensor: ort.Tensor): Float32Array {
  if (tensor.type === 'float32') return tensor.data as Float32Array
  return Float32Array.from(cacheData(tensor), fromHalfBits)
}

/** The cache data of an output: float32 as is, float16 as its raw half bits (a Float16Array is viewed as such). */
function cacheData(tensor: ort.Tensor): CacheArray {
  if (tensor.type === 'float32') return tensor.data as Float32Array
  const data = tensor.data as unknown as ArrayBufferView
  return data instanceof Uint16Array
    ? data
    : new Uint16Array(data.buffer, data.byteOffset, data.byteLength / 2)
}

/** Runs a decoder (optimum's layout, or new positions out) in an ONNX Runtime session, in this (generation) thread. */
export class OnnxDecoderRunner implements DecoderRunner {
  readonly cacheShape: CacheShape
  readonly cacheOutput: CacheOutputKind
  readonly #session: ort.InferenceSession
  readonly #layout: DecoderLayout

  constructor(session: ort.InferenceSession, layout: DecoderLayout) {
    this.#session = session
    this.#layout = layout
    this.cacheOutput = layout.cacheOutput
    const float16 = layout.cacheType === 'float16'
    this.cacheShape = {
      tensors: layout.pastNames.length,
      kvHeads: layout.kvHeads,
      headDim: layout.headDim,
      allocate: (length) => (float16 ? new Uint16Array(length) : new Float32Array(length)),
    }
  }

  async run(feeds: DecoderFeeds): Promise<DecoderOutput> {
    const { batch, sequence, pastLength } = feeds
    const layout = this.#layout
    const input: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor('int64', feeds.inputIds, [batch, sequence]),
      attention_mask: new ort.Tensor('int64', feeds.attentionMask, [batch, pastLength + sequence]),
    }
    if (layout.hasPositionIds)
      input.position_ids = new ort.Tensor('int64', feeds.positionIds, [batch, sequence])
    if (layout.hasUseCacheBranch)
      input.use_cache_branch = new ort.Tensor('bool', Uint8Array.of(pastLength > 0 ? 1 : 0), [1])
    const cacheDims = [batch, layout.kvHeads, pastLength, layout.headDim]
    layout.pastNames.forEach((name, i) => {
      input[name] = new ort.Tensor(layout.cacheType, feeds.past[i] as CacheArray, cacheDims)
    })
    const output = await this.#session.run(input)
    const logits = output.logits as ort.Tensor
    const vocab = logits.dims[2] as number
    if (logits.dims[0] !== batch || logits.dims[1] !== sequence) {
      throw new Error(
        `logits came back as [${logits.dims.join(', ')}], expected [${batch}, ${sequence}, vocab]`,
      )
    }
    return {
      logits: logitsAsFloat32(logits),
      vocab,
      cache: layout.cacheOutputNames.map((name) => cacheData(output[name] as ort.Tensor)),
    }
  }
}
