// The demo/test language model the build puts in the default repository as `tiny-llama-chat`: a small
// decoder-only transformer in Llama's layout (RMSNorm, rotary position embeddings, grouped-query causal
// self-attention with a KV cache, SwiGLU MLP) with seeded RANDOM weights, so its text is gibberish. Its inputs
// are optimum's (`input_ids`, `attention_mask`, `position_ids`, `past_key_values.N.key/value`); its outputs are
// `logits` and either the new positions' keys and values only (`new_key_values.N.key/value`, the shipped model:
// the engine keeps the cache in its own buffers) or, as optimum exports real decoders, the whole new cache
// (`present.N.key/value`). It comes with a byte-level BPE tokenizer.json trained at build time, a ChatML chat
// template and a generation_config.json. It exists so a fresh install answers chat completions with nothing
// but Node and npm, and so the generation engine can be checked against an independent numpy forward pass.
// Real models: src/generation/README.md.
import { BYTE_TO_CHAR } from '../generation/byte-level-alphabet.js'
import {
  ELEMENT_TYPE,
  intAttribute,
  intsAttribute,
  OnnxGraphBuilder,
  valueInfo,
} from './onnx-graph-builder.js'
import { mulberry32 } from './seeded-random.js'
import {
  type ByteLevelBpe,
  buildByteLevelTokenizerJson,
  trainByteLevelBpe,
} from './tiny-llama/byte-level-bpe.js'
import { TINY_LLAMA_CORPUS } from './tiny-llama/training-corpus.js'

/** Dimensions of a generated decoder. */
export interface TinyLlamaDims {
  hidden: number
  layers: number
  heads: number
  kvHeads: number
  headDim: number
  intermediate: number
  contextLength: number
}

/** Architecture of the generated decoder (Llama layout, grouped-query attention). */
export const TINY_LLAMA_DIMS: Readonly<TinyLlamaDims> = {
  hidden: 64,
  layers: 2,
  heads: 4,
  kvHeads: 2,
  headDim: 16,
  intermediate: 192,
  contextLength: 512,
}
/** Vocabulary size of the trained tokenizer, special tokens included. */
export const TINY_LLAMA_VOCAB_SIZE = 512
/** RMSNorm epsilon and RoPE base, as in Llama / Qwen2 configs. */
export const TINY_LLAMA_RMS_NORM_EPS = 1e-6
/** Base of the rotary position embeddings. */
export const TINY_LLAMA_ROPE_THETA = 10_000
/** Seed of the weights, so every build generates the same bytes. */
export const TINY_LLAMA_SEED = 20_261_201
/** Special tokens, after the trained vocabulary, in id order (Qwen2's ChatML tokens). */
export const TINY_LLAMA_SPECIAL_TOKENS = ['<|endoftext|>', '<|im_start|>', '<|im_end|>'] as const
/** Logit bias of tokens that decode to whole characters, and of `<|im_end|>` (see tinyLlamaLogitBias). */
const WHOLE_CHARACTER_BIAS = 4
const END_OF_TURN_BIAS = 6
/**
 * What a generated decoder returns besides the logits: `present` = the whole cache with the fed positions
 * appended (optimum's layout), `new-positions` = only the fed positions' keys and values (see decoder-layout.ts).
 */
export type TinyLlamaCacheOutput = 'present' | 'new-positions'
/** Additive attention bias of masked positions: finite, so a row with every key masked stays a number. */
const MASKED_SCORE = -1e9

/** ChatML, as Qwen2 writes it: a default system message, then `<|im_start|>role\ncontent<|im_end|>\n` each. */
export const TINY_LLAMA_CHAT_TEMPLATE = `{%- if messages[0]['role'] != 'system' %}{{- '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{%- endif %}
{%- for message in messages %}{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{%- endfor %}
{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}`

/** Trains the tokenizer on the built-in corpus (deterministic): the vocabulary before the special tokens. */
export function trainTinyLlamaTokenizer(): ByteLevelBpe {
  const size = TINY_LLAMA_VOCAB_SIZE - TINY_LLAMA_SPECIAL_TOKENS.length
  const bpe = trainByteLevelBpe(TINY_LLAMA_CORPUS, size)
  // The model's embedding and output sizes are fixed; a corpus too small to train that many merges is a bug.
  if (bpe.tokens.length !== size)
    throw new Error(`the corpus trained ${bpe.tokens.length} tokens, not ${size}`)
  return bpe
}

/** Ids of the special tokens, given the trained vocabulary. */
export function tinyLlamaSpecialIds(
  bpe: ByteLevelBpe,
): Record<(typeof TINY_LLAMA_SPECIAL_TOKENS)[number], number> {
  const [endOfText, imStart, imEnd] = TINY_LLAMA_SPECIAL_TOKENS.map((_, i) => bpe.tokens.length + i) as [
    number,
    number,
    number,
  ]
  return { '<|endoftext|>': endOfText, '<|im_start|>': imStart, '<|im_end|>': imEnd }
}

/** Output bias of the generated model: whole-character tokens up, the end of a turn a little, broken bytes 0. */
export function tinyLlamaLogitBias(bpe: ByteLevelBpe): Float32Array {
  const bias = new Float32Array(TINY_LLAMA_VOCAB_SIZE)
  const utf8 = new TextDecoder('utf-8', { fatal: true })
  bpe.tokens.forEach((token, id) => {
    try {
      const text = utf8.decode(Uint8Array.from(token, (ch) => BYTE_TO_CHAR.indexOf(ch)))
      bias[id] = /[\p{Cc}]/u.test(text.replace(/\n/g, '')) ? 0 : WHOLE_CHARACTER_BIAS
    } catch {
      bias[id] = 0
    }
  })
  bias[tinyLlamaSpecialIds(bpe)['<|im_end|>']] = END_OF_TURN_BIAS
  return bias
}

/** Rotary tables [contextLength, headDim / 2]: cos and sin of position × θ^(-2i/headDim), computed in float64. */
function rotaryTables(dims: Readonly<TinyLlamaDims>): { cos: Float32Array; sin: Float32Array } {
  const { contextLength, headDim } = dims
  const half = headDim / 2
  const cos = new Float32Array(contextLength * half)
  const sin = new Float32Array(contextLength * half)
  for (let p = 0; p < contextLength; p++) {
    for (let i = 0; i < half; i++) {
      const angle = p * TINY_LLAMA_ROPE_THETA ** (-(2 * i) / headDim)
      cos[p * half + i] = Math.cos(angle)
      sin[p * half + i] = Math.sin(angle)
    }
  }
  return { cos, sin }
}

/**
 * Builds the decoder. Inputs: `input_ids` and `position_ids` int64 [batch, sequence], `attention_mask` int64
 * [batch, past + sequence], `past_key_values.{l}.key|value` float32 [batch, kvHeads, past, headDim]. Outputs:
 * `logits` float32 [batch, sequence, vocab], `present.{l}.key|value` [batch, kvHeads, past + sequence, headDim].
 * Query i (cache index past + i) attends key j when j <= past + i and attention_mask[j] is 1, so left padding
 * and a padded cache are masked. Weights carry Hugging Face Llama names, stored as [in, out]. Opset 14.
 * `io: 'float16'` makes the cache and the logits float16 at the graph's edges (cast from and to float32
 * inside), as float16 exports are; tests use it to check the engine's float16 path. `cacheOutput:
 * 'new-positions'` returns `new_key_values.{l}.key|value` [batch, kvHeads, sequence, headDim] (the fed
 * positions only) instead of `present.*`; its past may then hold masked, unused positions after the valid ones.
 */
export function buildTinyLlamaModel(
  logitBias: Float32Array = tinyLlamaLogitBias(trainTinyLlamaTokenizer()),
  seed = TINY_LLAMA_SEED,
  dims: Readonly<TinyLlamaDims> = TINY_LLAMA_DIMS,
  io: 'float32' | 'float16' = 'float32',
  cacheOutput: TinyLlamaCacheOutput = 'new-positions',
): Uint8Array {
  const vocabSize = logitBias.length
  const { hidden, layers, heads, kvHeads, headDim, intermediate, contextLength } = dims
  const groups = heads / kvHeads
  const half = headDim / 2
  const rand = mulberry32(seed)
  const g = new OnnxGraphBuilder()
  const uniform = (name: string, dims: readonly number[], spread: number, center = 0) => {
    const data = new Float32Array(dims.reduce((a, b) => a * b, 1))
    for (let i = 0; i < data.length; i++) data[i] = center + (rand() * 2 - 1) * spread
    return g.floats(name, dims, data)
  }
  // Uniform in ±gain/sqrt(fanIn): activations stay O(1). Stored [in, out] for MatMul.
  const linear = (x: string, name: string, fanIn: number, fanOut: number, gain = 1) =>
    g.op('MatMul', [x, uniform(`${name}.weight`, [fanIn, fanOut], gain / Math.sqrt(fanIn))])
  const eps = g.scalar('rms_norm_eps', TINY_LLAMA_RMS_NORM_EPS)
  const rmsNorm = (x: string, name: string) => {
    const meanSquare = g.op(
      'ReduceMean',
      [g.op('Mul', [x, x])],
      [intsAttribute('axes', [-1]), intAttribute('keepdims', 1)],
    )
    const normed = g.op('Div', [x, g.op('Sqrt', [g.op('Add', [meanSquare, eps])])])
    return g.op('Mul', [normed, uniform(`${name}.weight`, [hidden], 0.1, 1)])
  }

  const axis0 = g.ints('axes_0', [0])
  const axis1 = g.ints('axes_1', [1])
  const axis2 = g.ints('axes_2', [2])
  const axes123 = g.ints('axes_1_2_3', [1, 2, 3])
  const axisLast = g.ints('axes_3', [3])
  const zero = g.ints('zero', [0], true)
  const one = g.ints('one', [1], true)

  // Rotary embeddings per token from its own position id: [batch, 1, sequence, headDim/2].
  const tables = rotaryTables(dims)
  const cos = g.op('Unsqueeze', [
    g.op('Gather', [g.floats('rotary.cos', [contextLength, half], tables.cos), 'position_ids']),
    axis1,
  ])
  const sin = g.op('Unsqueeze', [
    g.op('Gather', [g.floats('rotary.sin', [contextLength, half], tables.sin), 'position_ids']),
    axis1,
  ])
  const firstHalf = [g.ints('rope_start_0', [0]), g.ints('rope_end_half', [half])]
  const secondHalf = [g.ints('rope_start_half', [half]), g.ints('rope_end_full', [headDim])]
  const rotate = (y: string) => {
    const y1 = g.op('Slice', [y, ...firstHalf, axisLast])
    const y2 = g.op('Slice', [y, ...secondHalf, axisLast])
    return g.op(
      'Concat',
      [
        g.op('Sub', [g.op('Mul', [y1, cos]), g.op('Mul', [y2, sin])]),
        g.op('Add', [g.op('Mul', [y2, cos]), g.op('Mul', [y1, sin])]),
      ],
      [intAttribute('axis', 3)],
    )
  }

  // Attention bias [batch, 1, 1, sequence, total]: causal in cache index, and the attention mask.
  const total = g.op('Gather', [g.op('Shape', ['attention_mask']), one], [intAttribute('axis', 0)])
  const sequence = g.op('Gather', [g.op('Shape', ['input_ids']), one], [intAttribute('axis', 0)])
  const keyIndex = g.op('Unsqueeze', [g.op('Range', [zero, total, one]), axis0])
  const queryIndex = g.op('Unsqueeze', [g.op('Range', [g.op('Sub', [total, sequence]), total, one]), axis1])
  const causal = g.op('LessOrEqual', [keyIndex, queryIndex])
  const notPadding = g.op('Unsqueeze', [
    g.op('Cast', ['attention_mask'], [intAttribute('to', ELEMENT_TYPE.BOOL)]),
    axes123,
  ])
  const bias = g.op('Where', [
    g.op('And', [causal, notPadding]),
    g.scalar('attend_score', 0),
    g.scalar('masked_score', MASKED_SCORE),
  ])
  const scale = g.scalar('attention_scale', 1 / Math.sqrt(headDim))
  const headsShape = (n: number) => g.ints(`heads_shape_${n}`, [0, 0, n, headDim])
  const qShape = headsShape(heads)
  const kvShape = headsShape(kvHeads)
  const groupedShape = g.ints('grouped_shape', [0, kvHeads, groups, -1, headDim])
  const ungroupedShape = g.ints('ungrouped_shape', [0, heads, -1, headDim])
  const mergedShape = g.ints('merged_shape', [0, 0, heads * headDim])
  const toHeads = (t: string, shape: string) =>
    g.op('Transpose', [g.op('Reshape', [t, shape])], [intsAttribute('perm', [0, 2, 1, 3])])

  const half16 = io === 'float16'
  const toFloat = intAttribute('to', ELEMENT_TYPE.FLOAT)
  const toHalf = intAttribute('to', ELEMENT_TYPE.FLOAT16)
  const newPositions = cacheOutput === 'new-positions'
  // The cache with this step's keys or values appended; a float16 cache is widened before and narrowed after.
  // The graph output is the appended cache (`present`) or the fed positions alone (`new_key_values`).
  const extendCache = (past: string, current: string, output: string) => {
    if (newPositions) {
      if (half16) g.op('Cast', [current], [toHalf], output)
      else g.op('Identity', [current], [], output)
    }
    const named = newPositions || half16 ? undefined : output
    if (!half16) return g.op('Concat', [past, current], [intAttribute('axis', 2)], named)
    const extended = g.op('Concat', [g.op('Cast', [past], [toFloat]), current], [intAttribute('axis', 2)])
    if (!newPositions) g.op('Cast', [extended], [toHalf], output)
    return extended
  }
  const cacheOutputName = newPositions ? 'new_key_values' : 'present'

  let x = g.op('Gather', [uniform('model.embed_tokens.weight', [vocabSize, hidden], 1), 'input_ids'])
  for (let l = 0; l < layers; l++) {
    const p = `model.layers.${l}`
    const h = rmsNorm(x, `${p}.input_layernorm`)
    // Query and key get a larger gain so the random model attends selectively (a test of mask and cache).
    const q = rotate(toHeads(linear(h, `${p}.self_attn.q_proj`, hidden, heads * headDim, 2), qShape))
    const k = rotate(toHeads(linear(h, `${p}.self_attn.k_proj`, hidden, kvHeads * headDim, 2), kvShape))
    const v = toHeads(linear(h, `${p}.self_attn.v_proj`, hidden, kvHeads * headDim), kvShape)
    const keys = extendCache(`past_key_values.${l}.key`, k, `${cacheOutputName}.${l}.key`)
    const values = extendCache(`past_key_values.${l}.value`, v, `${cacheOutputName}.${l}.value`)
    // Grouped-query attention without copying keys: query heads [b, kv, group, s, d] against keys [b, kv, 1, d, t].
    const grouped = g.op('Reshape', [q, groupedShape])
    const keysT = g.op('Unsqueeze', [g.op('Transpose', [keys], [intsAttribute('perm', [0, 1, 3, 2])]), axis2])
    const scores = g.op('Add', [g.op('Mul', [g.op('MatMul', [grouped, keysT]), scale]), bias])
    const probs = g.op('Softmax', [scores], [intAttribute('axis', -1)])
    const context = g.op('MatMul', [probs, g.op('Unsqueeze', [values, axis2])])
    const merged = g.op('Reshape', [
      g.op('Transpose', [g.op('Reshape', [context, ungroupedShape])], [intsAttribute('perm', [0, 2, 1, 3])]),
      mergedShape,
    ])
    x = g.op('Add', [x, linear(merged, `${p}.self_attn.o_proj`, heads * headDim, hidden)])
    const h2 = rmsNorm(x, `${p}.post_attention_layernorm`)
    const gate = linear(h2, `${p}.mlp.gate_proj`, hidden, intermediate)
    const up = linear(h2, `${p}.mlp.up_proj`, hidden, intermediate)
    const swiglu = g.op('Mul', [g.op('Mul', [gate, g.op('Sigmoid', [gate])]), up])
    x = g.op('Add', [x, linear(swiglu, `${p}.mlp.down_proj`, intermediate, hidden)])
  }
  // A larger output gain makes the next-token distribution peaked, as a trained model's is. The bias favours
  // tokens that are whole characters, so the random text reads as words more than as broken bytes.
  const head = g.op('MatMul', [
    rmsNorm(x, 'model.norm'),
    uniform('lm_head.weight', [hidden, vocabSize], 6 / Math.sqrt(hidden)),
  ])
  const logits = g.op(
    'Add',
    [head, g.floats('lm_head.bias', [vocabSize], logitBias)],
    [],
    half16 ? undefined : 'logits',
  )
  if (half16) g.op('Cast', [logits], [toHalf], 'logits')

  const { INT64 } = ELEMENT_TYPE
  const FLOAT = half16 ? ELEMENT_TYPE.FLOAT16 : ELEMENT_TYPE.FLOAT
  const cacheDims = ['batch_size', kvHeads, 'past_sequence_length', headDim]
  const outputCacheDims = [
    'batch_size',
    kvHeads,
    newPositions ? 'sequence_length' : 'total_sequence_length',
    headDim,
  ]
  const kinds = ['key', 'value'] as const
  return g.encode({
    name: 'npu_fleet_tiny_llama',
    docString: 'Demo/test Llama-style decoder with seeded random weights: its text carries no meaning.',
    opset: 14,
    inputs: [
      valueInfo('input_ids', INT64, ['batch_size', 'sequence_length']),
      valueInfo('attention_mask', INT64, ['batch_size', 'total_sequence_length']),
      valueInfo('position_ids', INT64, ['batch_size', 'sequence_length']),
      ...Array.from({ length: layers }, (_, l) =>
        kinds.map((kind) => valueInfo(`past_key_values.${l}.${kind}`, FLOAT, cacheDims)),
      ).flat(),
    ],
    outputs: [
      valueInfo('logits', FLOAT, ['batch_size', 'sequence_length', vocabSize]),
      ...Array.from({ length: layers }, (_, l) =>
        kinds.map((kind) => valueInfo(`${cacheOutputName}.${l}.${kind}`, FLOAT, outputCacheDims)),
      ).flat(),
    ],
  })
}

/** Hugging Face `config.json` of the generated model (what optimum exports carry beside model.onnx). */
export function buildTinyLlamaConfigJson(
  specialIds: ReturnType<typeof tinyLlamaSpecialIds>,
  dims: Readonly<TinyLlamaDims> = TINY_LLAMA_DIMS,
): string {
  const { hidden, layers, heads, kvHeads, headDim, intermediate, contextLength } = dims
  const config = {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_size: hidden,
    num_hidden_layers: layers,
    num_attention_heads: heads,
    num_key_value_heads: kvHeads,
    head_dim: headDim,
    intermediate_size: intermediate,
    hidden_act: 'silu',
    max_position_embeddings: contextLength,
    rms_norm_eps: TINY_LLAMA_RMS_NORM_EPS,
    rope_theta: TINY_LLAMA_ROPE_THETA,
    vocab_size: TINY_LLAMA_VOCAB_SIZE,
    tie_word_embeddings: false,
    bos_token_id: null,
    eos_token_id: specialIds['<|im_end|>'],
    torch_dtype: 'float32',
  }
  return `${JSON.stringify(config, null, 2)}\n`
}

/** `tokenizer_config.json`: the chat template and the special tokens it refers to. */
export function buildTinyLlamaTokenizerConfigJson(
  specialIds: ReturnType<typeof tinyLlamaSpecialIds>,
): string {
  const config = {
    add_bos_token: false,
    add_eos_token: false,
    added_tokens_decoder: Object.fromEntries(
      TINY_LLAMA_SPECIAL_TOKENS.map((content) => [
        String(specialIds[content]),
        { content, lstrip: false, normalized: false, rstrip: false, single_word: false, special: true },
      ]),
    ),
    bos_token: null,
    eos_token: '<|im_end|>',
    pad_token: '<|endoftext|>',
    chat_template: TINY_LLAMA_CHAT_TEMPLATE,
    clean_up_tokenization_spaces: false,
    model_max_length: TINY_LLAMA_DIMS.contextLength,
    tokenizer_class: 'Qwen2Tokenizer',
  }
  return `${JSON.stringify(config, null, 2)}\n`
}

/** `generation_config.json`: both ChatML end tokens stop generation. */
export function buildTinyLlamaGenerationConfigJson(
  specialIds: ReturnType<typeof tinyLlamaSpecialIds>,
): string {
  const config = {
    bos_token_id: null,
    eos_token_id: [specialIds['<|im_end|>'], specialIds['<|endoftext|>']],
    pad_token_id: specialIds['<|endoftext|>'],
    do_sample: false,
    max_new_tokens: 128,
  }
  return `${JSON.stringify(config, null, 2)}\n`
}

/** `model.yaml` of the generated model. */
export const TINY_LLAMA_MANIFEST = `# tiny-llama-chat: a DEMO / TEST language model with RANDOM weights (src/models/tiny-llama-model.ts).
# Its answers are deterministic GIBBERISH: it has never been trained. It exists so a fresh install answers
# chat completions and so the generation engine can be checked against a numpy reference. For real answers
# install Qwen2.5-0.5B-Instruct or Llama-3.2-1B-Instruct: src/generation/README.md.
# Llama-style decoder: ${TINY_LLAMA_DIMS.layers} layers, hidden ${TINY_LLAMA_DIMS.hidden}, ${TINY_LLAMA_DIMS.heads} query / ${TINY_LLAMA_DIMS.kvHeads} key-value heads, byte-level BPE vocabulary of ${TINY_LLAMA_VOCAB_SIZE}
# trained at build time (1/tokenizer.json), ChatML chat template (1/tokenizer_config.json).
devices: [CPU]
instances: 1
threads: 1
generation:
  context_length: ${TINY_LLAMA_DIMS.contextLength}
  max_sequences: 8
  max_new_tokens: 128
  prefill_chunk_tokens: 128
`

/**
 * Every file of the generated model, by path relative to its model folder. Other `dims` build a variant with
 * the same tokenizer (the generation benchmark uses a wider one whose weights, like a real model's, do not
 * fit in the CPU caches).
 */
export function buildTinyLlamaFiles(
  dims: Readonly<TinyLlamaDims> = TINY_LLAMA_DIMS,
): Record<string, string | Uint8Array> {
  const bpe = trainTinyLlamaTokenizer()
  const specialIds = tinyLlamaSpecialIds(bpe)
  return {
    'model.yaml': TINY_LLAMA_MANIFEST,
    '1/model.onnx': buildTinyLlamaModel(tinyLlamaLogitBias(bpe), TINY_LLAMA_SEED, dims),
    '1/config.json': buildTinyLlamaConfigJson(specialIds, dims),
    '1/tokenizer.json': buildByteLevelTokenizerJson(bpe, TINY_LLAMA_SPECIAL_TOKENS),
    '1/tokenizer_config.json': buildTinyLlamaTokenizerConfigJson(specialIds),
    '1/generation_config.json': buildTinyLlamaGenerationConfigJson(specialIds),
  }
}
