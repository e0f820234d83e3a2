/** Input or output metadata as an ONNX Runtime session reports it (symbolic dimensions are strings). */
export interface ValueMetadata {
  name: string
  isTensor: boolean
  type: string
  shape: ReadonlyArray<number | string>
}

/** Element types the KV cache and the logits may have. */
export type DecoderFloatType = 'float32' | 'float16'

/**
 * What the model returns of the cache: `present` (optimum's layout, every real export): outputs
 * `present.N.key|value`, the whole cache with the fed positions appended, [batch, kvHeads, past + sequence,
 * headDim]; `new-positions` (the worker's generated model): outputs `new_key_values.N.key|value`, the fed
 * positions only, [batch, kvHeads, sequence, headDim], so the engine appends them to a cache it keeps in its
 * own buffers. ONNX Runtime's Node binding hands every output back as a fresh copy (even into preallocated
 * outputs), so a `present` cache is copied out whole at every step; new positions are a few KB.
 */
export type CacheOutputKind = 'present' | 'new-positions'

/** How a decoder-only ONNX model (optimum's layout) is fed, discovered from its session metadata. */
export interface DecoderLayout {
  /** Layers N: inputs `past_key_values.{0..N-1}.key|value`, outputs `present.{0..N-1}.key|value` (or `new_key_values.*`). */
  layers: number
  kvHeads: number
  headDim: number
  /** Element type of the cache tensors. */
  cacheType: DecoderFloatType
  /** Element type of `logits`. */
  logitsType: DecoderFloatType
  /** Whether the model takes `position_ids` (most do; GPT-2-style exports derive positions themselves). */
  hasPositionIds: boolean
  /** Whether the model is a merged decoder with a boolean `use_cache_branch` input. */
  hasUseCacheBranch: boolean
  /** Feed names of the cache, in order: `past_key_values.0.key`, `past_key_values.0.value`, ... */
  pastNames: string[]
  /** Which cache outputs the model has. */
  cacheOutput: CacheOutputKind
  /** Output names of the cache (`present.*` or `new_key_values.*`), in the same order as `pastNames`. */
  cacheOutputNames: string[]
}

/** Dimensions the metadata may leave symbolic, from the model's Hugging Face config.json. */
export interface DecoderConfigHints {
  num_key_value_heads?: unknown
  num_attention_heads?: unknown
  head_dim?: unknown
  hidden_size?: unknown
}

const PAST = /^past_key_values\.(\d+)\.(key|value)$/
const KNOWN_INPUTS = new Set(['input_ids', 'attention_mask', 'position_ids', 'use_cache_branch'])

function floatType(value: ValueMetadata): DecoderFloatType {
  if (value.type === 'float32' || value.type === 'float16') return value.type
  throw new Error(`${value.name} has type ${value.type}; only float32 and float16 are supported`)
}

function positiveInt(value: unknown): number | null {
  return typeof value === 'number' && Number.isInteger(value) && value > 0 ? value : null
}

/** Output name prefix of each cache layout. */
const CACHE_OUTPUT_PREFIX: Record<CacheOutputKind, string> = {
  present: 'present',
  'new-positions': 'new_key_values',
}

/**
 * Reads the layout of an optimum-exported decoder from its inputs and outputs: `input_ids` and
 * `attention_mask` required, `position_ids` and `use_cache_branch` optional, N layers of past and present
 * (or new-position) key/value tensors [batch, kvHeads, sequence, headDim] (heads and head size from the
 * metadata, else from config.json), `logits` [batch, sequence, vocab]. Throws naming what does not fit.
 */
export function readDecoderLayout(
  inputs: readonly ValueMetadata[],
  outputs: readonly ValueMetadata[],
  hints: DecoderConfigHints = {},
): DecoderLayout {
  const inputNames = new Set(inputs.map((i) => i.name))
  for (const required of ['input_ids', 'attention_mask']) {
    if (!inputNames.has(required))
      throw new Error(`the model has no ${required} input (not a decoder in optimum's layout)`)
  }
  for (const input of inputs) {
    if (!KNOWN_INPUTS.has(input.name) && !PAST.test(input.name)) {
      throw new Error(`the model has an input the engine does not feed: ${input.name}`)
    }
  }
  const past = inputs.filter((i) => PAST.test(i.name))
  const layers = past.length / 2
  if (layers < 1 || !Number.isInteger(layers)) {
    throw new Error(
      'the model has no past_key_values.N.key/value inputs (export it with past key values: optimum "text-generation-with-past")',
    )
  }
  const pastNames: string[] = []
  const cacheOutputNames: string[] = []
  const outputNames = new Set(outputs.map((o) => o.name))
  // A model without present.0.key but with new_key_values.0.key returns only the new positions.
  const cacheOutput: CacheOutputKind =
    !outputNames.has('present.0.key') && outputNames.has('new_key_values.0.key') ? 'new-positions' : 'present'
  const prefix = CACHE_OUTPUT_PREFIX[cacheOutput]
  for (let l = 0; l < layers; l++) {
    for (const kind of ['key', 'value']) {
      const name = `past_key_values.${l}.${kind}`
      if (!inputNames.has(name)) throw new Error(`the model lacks input ${name}`)
      const output = `${prefix}.${l}.${kind}`
      if (!outputNames.has(output)) throw new Error(`the model lacks output ${output}`)
      pastNames.push(name)
      cacheOutputNames.push(output)
    }
  }
  const logits = outputs.find((o) => o.name === 'logits')
  if (!logits) throw new Error('the model has no logits output')

  const first = past.find((p) => p.name === 'past_key_values.0.key') as ValueMetadata
  const cacheType = floatType(first)
  for (const p of past) {
    if (floatType(p) !== cacheType)
      throw new Error(`${p.name} has type ${p.type}, unlike ${first.name} (${cacheType})`)
  }
  const attentionHeads = positiveInt(hints.num_attention_heads)
  const kvHeads = positiveInt(first.shape[1]) ?? positiveInt(hints.num_key_value_heads) ?? attentionHeads
  const hidden = positiveInt(hints.hidden_size)
  const headDim =
    positiveInt(first.shape[3]) ??
    positiveInt(hints.head_dim) ??
    (hidden && attentionHeads ? hidden / attentionHeads : null)
  if (!kvHeads || !headDim || !Number.isInteger(headDim)) {
    throw new Error(
      `${first.name} has shape [${first.shape.join(', ')}]: the key/value heads and head size are symbolic and config.json does not give them (num_key_value_heads, head_dim)`,
    )
  }
  return {
    layers,
    kvHeads,
    headDim,
    cacheType,
    logitsType: floatType(logits),
    hasPositionIds: inputNames.has('position_ids'),
    hasUseCacheBranch: inputNames.has('use_cache_branch'),
    pastNames,
    cacheOutput,
    cacheOutputNames,
  }
}
