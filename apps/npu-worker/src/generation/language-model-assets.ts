import { ChatTemplate, chatTemplateSource } from './chat-template.js'
import type { DecoderConfigHints } from './decoder-layout.js'
import { type GenerationFiles, readOptionalJson, tokenIdList } from './generation-files.js'
import { GenerationError, type GenerationInput } from './text-generator.js'
import { TextTokenizer } from './text-tokenizer.js'

/** Everything around the decoder that turns requests into tokens and tokens into text. */
export interface LanguageModelAssets {
  tokenizer: TextTokenizer
  /** Null when the model has no chat template (then only completions work). */
  chatTemplate: ChatTemplate | null
  /** Tokens that end a generation. */
  eosIds: ReadonlySet<number>
  contextLength: number
  /** config.json, for dimensions the ONNX metadata leaves symbolic. */
  config: DecoderConfigHints & { vocab_size?: unknown }
}

/** Largest context length believed from a config field (tokenizer_config's model_max_length is often 1e30). */
const MAX_CONTEXT = 1_048_576

/**
 * Loads the tokenizer, chat template, end tokens and context length of a language model. End tokens:
 * generation_config.json `eos_token_id` (one or a list), else config.json's, else the tokenizer's
 * `eos_token`. Context: `contextLength` (model.yaml), else config.json `max_position_embeddings`, else
 * tokenizer_config.json `model_max_length`. Throws naming what is missing.
 */
export function loadLanguageModelAssets(
  files: GenerationFiles,
  contextLength: number | null,
): LanguageModelAssets {
  const tokenizer = TextTokenizer.fromFiles(files.tokenizer, files.tokenizerConfig)
  const generationConfig = readOptionalJson(files.generationConfig)
  const config = readOptionalJson(files.config)
  const source = chatTemplateSource(tokenizer.config, files.chatTemplate)
  const chatTemplate = source === null ? null : new ChatTemplate(source, tokenizer.specialTokens)

  let eos = tokenIdList(generationConfig.eos_token_id)
  if (eos.length === 0) eos = tokenIdList(config.eos_token_id)
  if (eos.length === 0 && tokenizer.specialTokens.eos_token) {
    const id = tokenizer.tokenId(tokenizer.specialTokens.eos_token)
    if (id !== undefined) eos = [id]
  }
  if (eos.length === 0) {
    throw new Error(
      `${files.tokenizer}: no end-of-sequence token (generation_config.json eos_token_id, config.json eos_token_id or tokenizer_config.json eos_token)`,
    )
  }

  const candidates = [contextLength, config.max_position_embeddings, tokenizer.config.model_max_length]
  const context = candidates.find(
    (v): v is number => typeof v === 'number' && Number.isInteger(v) && v > 0 && v <= MAX_CONTEXT,
  )
  if (context === undefined) {
    throw new Error(
      'no context length: set generation.context_length in model.yaml (config.json has no max_position_embeddings)',
    )
  }
  return { tokenizer, chatTemplate, eosIds: new Set(eos), contextLength: context, config }
}

/** The prompt tokens of `input`: a chat through the model's template, a completion prompt as is. */
export function encodePrompt(assets: LanguageModelAssets, input: GenerationInput): number[] {
  if (input.kind === 'completion') return assets.tokenizer.encode(input.prompt, true)
  if (!assets.chatTemplate) {
    throw new GenerationError(
      'template_failed',
      'the model has no chat template (tokenizer_config.json chat_template); use a completion',
      'messages',
    )
  }
  // The template writes the special tokens itself (a BOS among them), so the post-processor adds none.
  return assets.tokenizer.encode(assets.chatTemplate.render(input.messages), false)
}
