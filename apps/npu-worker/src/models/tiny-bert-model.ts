// The demo/test sentence embedder the build puts in the default repository as `tiny-bert-embed`: a small
// BERT-like encoder with seeded RANDOM weights (its vectors carry no meaning), a WordPiece vocabulary and a
// Hugging Face tokenizer.json. It exists so a fresh install serves `/v1/embeddings` with nothing but Node and
// npm, and so the embeddings pipeline can be checked against an independent numpy reference. Real models
// (all-MiniLM-L6-v2, bge-small-en-v1.5, nomic-embed-text-v1) are installed by operators:
// src/tasks/embeddings/README.md.
import {
  ELEMENT_TYPE,
  intAttribute,
  intsAttribute,
  OnnxGraphBuilder,
  valueInfo,
} from './onnx-graph-builder.js'
import { mulberry32 } from './seeded-random.js'

/** Architecture of the generated encoder (BERT layout, post-LayerNorm, exact GELU). */
export const TINY_BERT_DIMS = {
  hidden: 128,
  layers: 2,
  heads: 4,
  intermediate: 512,
  maxPositions: 512,
  typeVocab: 2,
} as const
/** Seed of the weights, so every build generates the same bytes. */
export const TINY_BERT_SEED = 20_260_305
/** LayerNorm epsilon, as in BERT. */
export const TINY_BERT_LAYER_NORM_EPS = 1e-12
/** Sequence length the generated model.yaml pads and truncates to (the NPU's static shape). */
export const TINY_BERT_SEQUENCE_LENGTH = 128

/** Special tokens, at the start of the vocabulary. */
const SPECIAL_TOKENS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'] as const

// Words and word pieces of the demo vocabulary: enough English that common sentences split into whole
// words and `##` pieces, plus CJK characters, Hangul, kana, Greek, Cyrillic and two emoji, so the tokenizer
// tests exercise every path of BERT's algorithm (CJK spacing, accent stripping, sub-words, [UNK]).
const WORDS = `the of and to a in is it you that he was for on are with as i his they be at one have this from
or had by hot word but what some we can out other were all there when up use your how said an each she which
do their time if will way about many then them write would like so these her long make thing see him two has
look more day could go come did number sound no most people my over know water than call first who may down
side been now find any new work part take get place made live where after back little only round man year came
show every good me give our under name very through just form sentence great think say help low line differ
turn cause much mean before move right boy old too same tell does set three want air well also play small end
put home read hand port large spell add even land here must big high such follow act why ask men change went
light kind off need house picture try us again animal point mother world near build self earth father head
stand own page should country found answer school grow study still learn plant cover food sun four between
state keep eye never last let thought city tree cross farm hard start might story saw far sea draw left late
run don while press close night real life few north open seem together next white children begin got walk
example ease paper group always music those both mark often letter until mile river car feet care second book
carry took science eat room friend began idea fish mountain stop once base hear horse cut sure watch color face
wood main enough plain girl usual young ready above ever red list though feel talk bird soon body dog family
direct pose leave song measure door product black short numeral class wind question happen complete ship area
half rock order fire south problem piece told knew pass since top whole king space heard best hour better true
during hundred five remember step early hold west ground interest reach fast verb sing listen six table travel
less morning ten simple several vowel toward war lay against pattern slow center love person money serve appear
road map rain rule govern pull cold notice voice unit power town fine certain fly fall lead cry dark machine
note wait plan figure star box noun field rest correct able pound done beauty drive stood contain front teach
week final gave green oh quick develop ocean warm free minute strong special mind behind clear tail produce fact
street inch multiply nothing course stay wheel full force blue object decide surface deep moon island foot
system busy test record boat common gold possible plane stead dry wonder laugh thousand ago ran check game
shape equate miss brought heat snow tire bring yes distant fill east paint language among cafe naive resume
fiance uber hello world search query document passage represent relevant sentences embedding embeddings
vector vectors model models token tokens tokenizer npu fleet worker server onnx openvino bert neural network
intel cpu gpu data text image un re pre ##s ##es ##ed ##ing ##ly ##er ##est ##tion ##ment ##ness ##able
##ful ##less ##ize ##izer ##ization ##ding ##al ##ic ##ity ##ous ##ive ##en ##y ##a ##e ##i ##o ##u ##n ##t
##r ##l ##d ##m ##k ##p ##ch ##sh ##th ##ph ##ue ##ie ##ia ##io ##on ##an ##in ##at ##it ##et ##ar ##or ##ur
believ ##believ ##ably ##ator ##ators ##ers ##ings ##ted ##ward ##wards ##x ##z ##q ##j ##v ##w ##g ##f ##b
##c ##h ##s
α β γ δ ε λ μ π σ ς ω ##α ##β ##γ ##δ ##ε ##λ ##μ ##π ##σ ##ς ##ω
а б в г д е и к л м н о п р с т ##а ##б ##в ##г ##д ##е ##и ##к ##л ##м ##н ##о ##п ##р ##с ##т привет мир
ß æ ø đ ł ##ß ##æ ##ø ##đ ##ł
的 一 是 不 了 人 我 在 有 他 这 中 大 来 上 国 个 到 说 们 为 子 和 你 地 出 道 也 时 年 得 就 那 要 下 以 生 会 自 着
去 之 过 家 学 对 可 她 里 后 小 么 心 多 天 而 能 好 都 然 没 日 于 起 还 发 成 事 只 作 当 想 看 文 无 开 手 十 用
主 行 方 又 如 前 所 本 见 经 头 面 公 同 三 已 老 从 动 两 长 知 民 样 现 分 将 外 但 身 些 与 高 意 进 把 法 此
实 回 二 理 美 点 月 明 其 种 声 全 工 己 话 儿 者 向 情 部 正 名 定 女 问 力 机 给 等 几 很 业 最 间 新 什 打 便
位 因 重 被 走 电 四 第 门 相 次 东 政 海 口 使 教 西 再 平 真 听 世 气 信 北 少 关 并 内 加 化 由 却 代 军 产 入
先 山 五 太 水 万 市 眼 体 别 处 总 才 场 师 书 比 住 员 九 笑 性 通 目 华 报 立 马 命 张 活 难 神 数 件 安 表 原
车 白 应 路 期 叫 死 常 提 感 金 何 更 反 合 放 做 系 计 或 司 利 受 光 王 果 亲 界 及 今 京 务 制 解 各 任 至 清
物 台 象 记 边 共 风 战 干 接 它 许 八 特 觉 望 直 服 毛 林 题 建 南 度 统 色 字 请 交 爱 让 认 算 论 百 吃 义 科
怎 元 社 术 结 六 功 指 思 非 流 每 青 管 夫 连 远 资 队 跟 带 花 快 条 院 变 联 言 权 往 展 该 领 传 近 留 红 治
東 語 國 漢 字 學 習 體 會 話 電 腦 車 門 問 題 號 碼 語 言
の に は を た が で て と し れ さ ある いる も する から な こ ##の ##に ##は ##を ##た ##が ##で ##て ##と
ア イ ウ エ オ カ キ ク ケ コ ##ア ##イ ##ウ ##エ ##オ ##カ ##キ ##ク ##ケ ##コ
한 국 어 안 녕 하 세 요 ##국 ##어 ##녕 ##하 ##세 ##요 ##다 ##는 한국어 안녕
😀 👍 ##😀 ##👍`

/** ASCII punctuation BERT splits off as single tokens. */
const ASCII_PUNCTUATION = '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~'
/** Other punctuation BERT splits off (general category P*). */
const OTHER_PUNCTUATION = '¡¿«»“”‘’…—–·、。，！？：；「」『』（）《》'

/**
 * The WordPiece vocabulary, in id order: special tokens, single characters (plain and `##`), then the word
 * list. Deterministic; duplicates keep their first id.
 */
export function buildTinyBertVocabulary(): string[] {
  const singles: string[] = []
  for (const ch of `${ASCII_PUNCTUATION}${OTHER_PUNCTUATION}0123456789abcdefghijklmnopqrstuvwxyz`)
    singles.push(ch)
  for (const ch of '0123456789abcdefghijklmnopqrstuvwxyz') singles.push(`##${ch}`)
  const seen = new Set<string>(SPECIAL_TOKENS)
  const vocab: string[] = [...SPECIAL_TOKENS]
  for (const word of [...singles, ...WORDS.split(/\s+/)]) {
    // Stored as the uncased normalizer leaves text (lowercase, NFD without marks): Hangul syllables become
    // jamo and voiced kana lose their mark, exactly as in the real uncased BERT vocabularies.
    const token = word
      .toLowerCase()
      .normalize('NFD')
      .replace(/\p{Mn}/gu, '')
    if (token === '' || seen.has(token)) continue
    seen.add(token)
    vocab.push(token)
  }
  return vocab
}

/** `vocab.txt`: one token per line, the line number is the id (the file BERT tooling reads). */
export function buildTinyBertVocabTxt(vocab: readonly string[] = buildTinyBertVocabulary()): string {
  return `${vocab.join('\n')}\n`
}

/**
 * The Hugging Face `tokenizer.json` of a BERT-uncased WordPiece tokenizer over `vocab`: BertNormalizer
 * (clean text, CJK characters spaced, lowercase, accents stripped), BertPreTokenizer, WordPiece with `##`
 * and `[UNK]`, BertProcessing `[CLS] … [SEP]`. Padding and truncation are the pipeline's job.
 */
export function buildTinyBertTokenizerJson(vocab: readonly string[] = buildTinyBertVocabulary()): string {
  const id = (token: string) => {
    const index = vocab.indexOf(token)
    if (index < 0) throw new Error(`${token} is not in the vocabulary`)
    return index
  }
  const tokenizer = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: SPECIAL_TOKENS.map((content) => ({
      id: id(content),
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: {
      type: 'BertNormalizer',
      clean_text: true,
      handle_chinese_chars: true,
      strip_accents: null,
      lowercase: true,
    },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: { type: 'BertProcessing', sep: ['[SEP]', id('[SEP]')], cls: ['[CLS]', id('[CLS]')] },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: {
      type: 'WordPiece',
      unk_token: '[UNK]',
      continuing_subword_prefix: '##',
      max_input_chars_per_word: 100,
      vocab: Object.fromEntries(vocab.map((token, index) => [token, index])),
    },
  }
  return `${JSON.stringify(tokenizer, null, 2)}\n`
}

type Dims = readonly number[]

/** The graph builder with this model's seeded random initializers. */
class GraphBuilder extends OnnxGraphBuilder {
  constructor(readonly rand: () => number) {
    super()
  }

  /** A float initializer with values uniform in `center ± spread`. */
  uniform(name: string, dims: Dims, spread: number, center = 0): string {
    const data = new Float32Array(dims.reduce((a, b) => a * b, 1))
    for (let i = 0; i < data.length; i++) data[i] = center + (this.rand() * 2 - 1) * spread
    return this.floats(name, dims, data)
  }
}

/** `LayerNorm(x) * gamma + beta` over the last axis, from opset-13 primitives (OpenVINO and ORT both read it). */
function layerNorm(g: GraphBuilder, x: string, prefix: string, eps: string, hidden: number): string {
  const gamma = g.uniform(`${prefix}.weight`, [hidden], 0.1, 1)
  const beta = g.uniform(`${prefix}.bias`, [hidden], 0.1)
  const mean = g.op('ReduceMean', [x], [intsAttribute('axes', [-1]), intAttribute('keepdims', 1)])
  const centered = g.op('Sub', [x, mean])
  const variance = g.op(
    'ReduceMean',
    [g.op('Mul', [centered, centered])],
    [intsAttribute('axes', [-1]), intAttribute('keepdims', 1)],
  )
  const normed = g.op('Div', [centered, g.op('Sqrt', [g.op('Add', [variance, eps])])])
  return g.op('Add', [g.op('Mul', [normed, gamma]), beta])
}

/** `x @ W + b` with W uniform in ±gain/sqrt(fanIn), so activations stay O(1). */
function linear(g: GraphBuilder, x: string, prefix: string, fanIn: number, fanOut: number, gain = 1): string {
  const w = g.uniform(`${prefix}.weight`, [fanIn, fanOut], gain / Math.sqrt(fanIn))
  const b = g.uniform(`${prefix}.bias`, [fanOut], 0.1)
  return g.op('Add', [g.op('MatMul', [x, w]), b])
}

/**
 * Builds the encoder: inputs `input_ids`, `attention_mask`, `token_type_ids` (int64 [batch, sequence]),
 * output `last_hidden_state` (float32 [batch, sequence, hidden]). Word + position + token-type embeddings,
 * LayerNorm, then per layer: multi-head self-attention with the additive mask (1 - mask) * -10000, residual,
 * LayerNorm, GELU (erf) feed-forward, residual, LayerNorm. Weights are named as in Hugging Face BERT and
 * stored as [in, out]. Opset 13, IR version 8. `inputShape` fixes [batch, sequence] in the graph (as an NPU
 * compiles it; tests use it to check the static-shape path on ONNX Runtime); the default leaves both dynamic.
 */
export function buildTinyBertModel(
  vocabSize: number,
  options: { seed?: number; inputShape?: readonly [number, number] } = {},
): Uint8Array {
  const seed = options.seed ?? TINY_BERT_SEED
  const [batchDim, sequenceDim] = options.inputShape ?? ['batch', 'sequence']
  const { hidden, layers, heads, intermediate, maxPositions, typeVocab } = TINY_BERT_DIMS
  const headSize = hidden / heads
  const g = new GraphBuilder(mulberry32(seed))
  const eps = g.floats('layer_norm_eps', [], Float32Array.of(TINY_BERT_LAYER_NORM_EPS))
  const one = g.floats('one', [], Float32Array.of(1))
  const half = g.floats('half', [], Float32Array.of(0.5))
  const sqrt2 = g.floats('sqrt2', [], Float32Array.of(Math.SQRT2))
  const maskValue = g.floats('mask_value', [], Float32Array.of(-10_000))
  const scale = g.floats('attention_scale', [], Float32Array.of(1 / Math.sqrt(headSize)))
  const headsShape = g.ints('heads_shape', [0, 0, heads, headSize])
  const hiddenShape = g.ints('hidden_shape', [0, 0, hidden])

  // Embeddings: the position table is sliced to the sequence length of this call.
  const words = g.op('Gather', [
    g.uniform('embeddings.word_embeddings.weight', [vocabSize, hidden], 1),
    'input_ids',
  ])
  const types = g.op('Gather', [
    g.uniform('embeddings.token_type_embeddings.weight', [typeVocab, hidden], 0.5),
    'token_type_ids',
  ])
  const sequenceLength = g.op('Slice', [
    g.op('Shape', ['input_ids']),
    g.ints('one_index', [1]),
    g.ints('two_index', [2]),
    g.ints('axis_zero', [0]),
  ])
  const positions = g.op('Slice', [
    g.uniform('embeddings.position_embeddings.weight', [maxPositions, hidden], 0.5),
    g.ints('zero_index', [0]),
    sequenceLength,
    'axis_zero',
  ])
  let x = layerNorm(
    g,
    g.op('Add', [g.op('Add', [words, types]), positions]),
    'embeddings.LayerNorm',
    eps,
    hidden,
  )

  // Additive attention mask [batch, 1, 1, sequence]: 0 for real tokens, -10000 for padding.
  const mask = g.op('Unsqueeze', [
    g.op('Cast', ['attention_mask'], [intAttribute('to', 1)]),
    g.ints('mask_axes', [1, 2]),
  ])
  const maskBias = g.op('Mul', [g.op('Sub', [one, mask]), maskValue])

  for (let l = 0; l < layers; l++) {
    const p = `encoder.layer.${l}`
    const split = (t: string, perm: number[]) =>
      g.op('Transpose', [g.op('Reshape', [t, headsShape])], [intsAttribute('perm', perm)])
    // Query and key get a larger gain so the random model attends selectively (a test of the mask).
    const q = split(linear(g, x, `${p}.attention.self.query`, hidden, hidden, 2), [0, 2, 1, 3])
    const k = split(linear(g, x, `${p}.attention.self.key`, hidden, hidden, 2), [0, 2, 3, 1])
    const v = split(linear(g, x, `${p}.attention.self.value`, hidden, hidden), [0, 2, 1, 3])
    const scores = g.op('Add', [g.op('Mul', [g.op('MatMul', [q, k]), scale]), maskBias])
    const probs = g.op('Softmax', [scores], [intAttribute('axis', -1)])
    const context = g.op('Reshape', [
      g.op('Transpose', [g.op('MatMul', [probs, v])], [intsAttribute('perm', [0, 2, 1, 3])]),
      hiddenShape,
    ])
    const attention = linear(g, context, `${p}.attention.output.dense`, hidden, hidden)
    x = layerNorm(g, g.op('Add', [attention, x]), `${p}.attention.output.LayerNorm`, eps, hidden)
    const inner = linear(g, x, `${p}.intermediate.dense`, hidden, intermediate)
    const gelu = g.op('Mul', [
      g.op('Mul', [inner, half]),
      g.op('Add', [one, g.op('Erf', [g.op('Div', [inner, sqrt2])])]),
    ])
    const out = linear(g, gelu, `${p}.output.dense`, intermediate, hidden)
    x = layerNorm(g, g.op('Add', [out, x]), `${p}.output.LayerNorm`, eps, hidden)
  }
  g.op('Identity', [x], [], 'last_hidden_state')

  return g.encode({
    name: 'npu_fleet_tiny_bert',
    docString: 'Demo/test BERT-like encoder with seeded random weights: its embeddings carry no meaning.',
    opset: 13,
    inputs: ['input_ids', 'attention_mask', 'token_type_ids'].map((name) =>
      valueInfo(name, ELEMENT_TYPE.INT64, [batchDim, sequenceDim]),
    ),
    outputs: [valueInfo('last_hidden_state', ELEMENT_TYPE.FLOAT, [batchDim, sequenceDim, hidden])],
  })
}

/** `model.yaml` of the generated model. */
export const TINY_BERT_MANIFEST = `# tiny-bert-embed: a DEMO / TEST model with RANDOM weights (src/models/tiny-bert-model.ts).
# Its vectors are deterministic but carry NO meaning: similar sentences are not close. It exists so a fresh
# install answers /v1/embeddings and so tests can check the pipeline against a numpy reference. For real
# embeddings install all-MiniLM-L6-v2, bge-small-en-v1.5 or nomic-embed-text-v1: src/tasks/embeddings/README.md.
# BERT-like: 2 layers, hidden ${TINY_BERT_DIMS.hidden}, ${TINY_BERT_DIMS.heads} heads, WordPiece vocabulary (1/tokenizer.json, 1/vocab.txt).
devices: [NPU, CPU]
static_shapes:
  input_ids: [1, ${TINY_BERT_SEQUENCE_LENGTH}]
  attention_mask: [1, ${TINY_BERT_SEQUENCE_LENGTH}]
  token_type_ids: [1, ${TINY_BERT_SEQUENCE_LENGTH}]
instances: 2
threads: 1
queue: { max_queued: 64 }
# Concurrent embedding requests are merged into one inference (the pipeline pads every call to the
# sequence length so their rows fit together; on the NPU the batch compiles as 16 and is padded).
batching: { max_batch_size: 16, max_queue_delay_us: 1000 }
embeddings:
  sequence_length: ${TINY_BERT_SEQUENCE_LENGTH}
  pooling: mean
  normalize: true
  max_batch_size: 32
`

/** Every file of the generated model, by path relative to its model folder. */
export function buildTinyBertFiles(): Record<string, string | Uint8Array> {
  const vocab = buildTinyBertVocabulary()
  return {
    'model.yaml': TINY_BERT_MANIFEST,
    '1/model.onnx': buildTinyBertModel(vocab.length),
    '1/tokenizer.json': buildTinyBertTokenizerJson(vocab),
    '1/vocab.txt': buildTinyBertVocabTxt(vocab),
  }
}
