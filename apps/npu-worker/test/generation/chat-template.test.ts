// Chat templates come from the model's own files and are rendered with @huggingface/jinja; never built by hand.
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ChatTemplate, chatTemplateSource } from '../../src/generation/chat-template.js'
import { encodePrompt, loadLanguageModelAssets } from '../../src/generation/language-model-assets.js'
import { GenerationError } from '../../src/generation/text-generator.js'
import { SENTENCEPIECE_TOKENIZER_CONFIG } from './fixtures/sentencepiece-tokenizer.js'
import { TINY_FILES } from './generation-harness.js'

const noTokens = { bos_token: null, eos_token: null, pad_token: null, unk_token: null }

describe('chat templates', () => {
  it("renders the tiny model's ChatML with its default system message and the generation prompt", () => {
    const assets = loadLanguageModelAssets(TINY_FILES, null)
    const prompt = assets.chatTemplate?.render([{ role: 'user', content: 'Hi there' }])
    expect(prompt).toBe(
      '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n',
    )
    const ids = encodePrompt(assets, { kind: 'chat', messages: [{ role: 'user', content: 'Hi there' }] })
    expect(assets.tokenizer.decode(ids)).toBe(
      'system\nYou are a helpful assistant.\nuser\nHi there\nassistant\n',
    )
    expect(ids.filter((id) => id === 510)).toHaveLength(3)
  })

  it("passes the tokenizer's bos_token and eos_token to the template (Llama 2)", () => {
    const template = new ChatTemplate(SENTENCEPIECE_TOKENIZER_CONFIG.chat_template, {
      ...noTokens,
      bos_token: '<s>',
      eos_token: '</s>',
    })
    expect(
      template.render([
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Hello' },
        { role: 'assistant', content: 'Hi.' },
        { role: 'user', content: 'Bye' },
      ]),
    ).toBe('<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHello [/INST] Hi. </s><s>[INST] Bye [/INST]')
  })

  it("turns a template's raise_exception into template_failed, naming messages", () => {
    const template = new ChatTemplate(SENTENCEPIECE_TOKENIZER_CONFIG.chat_template, noTokens)
    let error: unknown
    try {
      template.render([{ role: 'assistant', content: 'first' }])
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(GenerationError)
    expect(error).toMatchObject({ code: 'template_failed', field: 'messages' })
    expect((error as Error).message).toMatch(/Conversation roles must alternate/)
  })

  it('offers strftime_now to templates that date their system prompt (Llama 3.2)', () => {
    const template = new ChatTemplate('{{ bos_token }}Today is {{ strftime_now("%Y") }}.', {
      ...noTokens,
      bos_token: '<|begin_of_text|>',
    })
    expect(template.render([])).toBe(`<|begin_of_text|>Today is ${new Date().getFullYear()}.`)
  })

  it('reads the template from a string, a named list, or a chat_template.jinja file that wins', () => {
    expect(chatTemplateSource({ chat_template: 'A' }, null)).toBe('A')
    expect(
      chatTemplateSource(
        {
          chat_template: [
            { name: 'tool_use', template: 'T' },
            { name: 'default', template: 'D' },
          ],
        },
        null,
      ),
    ).toBe('D')
    expect(chatTemplateSource({}, null)).toBeNull()
    const file = join(mkdtempSync(join(tmpdir(), 'template-')), 'chat_template.jinja')
    writeFileSync(file, 'F')
    expect(chatTemplateSource({ chat_template: 'A' }, file)).toBe('F')
  })

  it('refuses a template that does not parse, when the model loads', () => {
    expect(() => new ChatTemplate('{% for %}', noTokens)).toThrow(/the chat template does not parse/)
  })
})
