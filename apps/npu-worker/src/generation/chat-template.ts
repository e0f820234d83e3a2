import { readFileSync } from 'node:fs'
import { Template } from '@huggingface/jinja'
import { type ChatMessage, GenerationError } from './text-generator.js'
import type { SpecialTokens } from './text-tokenizer.js'

/**
 * `chat_template` of a tokenizer_config.json: a string, or a list of named templates (then "default"), or
 * absent. Newer transformers write it to `chat_template.jinja` beside the config instead; `overridePath` names
 * such a file (or one chosen in model.yaml), which wins.
 */
export function chatTemplateSource(
  tokenizerConfig: Readonly<Record<string, unknown>>,
  overridePath: string | null,
): string | null {
  if (overridePath) return readFileSync(overridePath, 'utf8')
  const value = tokenizerConfig.chat_template
  if (typeof value === 'string') return value
  if (Array.isArray(value)) {
    const named = value.find(
      (entry): entry is { name: string; template: string } =>
        typeof entry === 'object' &&
        entry !== null &&
        entry.name === 'default' &&
        typeof entry.template === 'string',
    )
    return named?.template ?? null
  }
  return null
}

/**
 * A model's own chat template, rendered with @huggingface/jinja exactly as transformers' `apply_chat_template`
 * renders it: `messages`, `add_generation_prompt`, and the special tokens (`bos_token`, `eos_token`, ...) in
 * the context; `raise_exception` and `strftime_now` come with the library. No prompt is ever built by hand.
 */
export class ChatTemplate {
  readonly #template: Template
  readonly #specialTokens: SpecialTokens

  /** Parses `source`; throws when it is not a valid template. */
  constructor(source: string, specialTokens: SpecialTokens) {
    try {
      this.#template = new Template(source)
    } catch (error) {
      throw new Error(`the chat template does not parse: ${(error as Error).message}`)
    }
    this.#specialTokens = specialTokens
  }

  /**
   * The prompt for `messages`, ending with the assistant's generation prompt. Throws a
   * {@link GenerationError} `template_failed` when the template refuses them (its own `raise_exception`).
   */
  render(messages: readonly ChatMessage[]): string {
    try {
      return this.#template.render({
        messages: messages.map((m) => ({ role: m.role, content: m.content })),
        add_generation_prompt: true,
        ...this.#specialTokens,
      })
    } catch (error) {
      throw new GenerationError(
        'template_failed',
        `the model's chat template refused the messages: ${(error as Error).message}`,
        'messages',
      )
    }
  }
}
