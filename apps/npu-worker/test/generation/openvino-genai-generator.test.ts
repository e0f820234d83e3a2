// The OpenVINO GenAI generator on the fake openvino-genai-node (src/testing/fake-openvino-genai.ts), whose answers
// come from the ONNX Runtime engine on the generated tiny-llama-chat model: the contract on the fake CPU and NPU,
// the NPU properties the backend passes, why MAX_PROMPT_LEN must be enforced (the fake answers an overlong prompt
// wrongly, as the NPU pipeline does), and a pipeline that stops answering (abandoned, replaced, with backoff).
import { cpSync, existsSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import type { GeneratorLoadSpec } from '../../src/generation/generation-backend.js'
import { GenerationSectionSchema } from '../../src/generation/generation-manifest.js'
import { OpenvinoGenaiBackend } from '../../src/generation/openvino-genai-backend.js'
import type { TextGenerator } from '../../src/generation/text-generator.js'
import { createFakeOpenvinoGenai, type FakeGenaiFaults } from '../../src/testing/fake-openvino-genai.js'
import { describeGenaiContract } from './genai-generator-contract.js'
import {
  GENERATION_THREAD_ENTRY,
  startTinyEngine,
  TINY_TOKENIZER,
  waitFor,
  writeTinyLlama,
} from './generation-harness.js'

/**
 * The tiny model as an optimum-intel export would lay it out, in a folder named like the model (faults address
 * models by name): `openvino_model.xml` (a stub: the fake computes with the ONNX beside it) in the version folder.
 */
function writeTinyIrFolder(): string {
  const dir = join(mkdtempSync(join(tmpdir(), 'genai-models-')), 'tiny-llama-chat')
  cpSync(writeTinyLlama(), dir, { recursive: true })
  writeFileSync(join(dir, '1', 'openvino_model.xml'), '<?xml version="1.0"?><net name="stub"/>')
  writeFileSync(join(dir, '1', 'openvino_model.bin'), '')
  return dir
}

const DIR = writeTinyIrFolder()
const MAX_PROMPT_LEN = 48
const cacheDir = join(mkdtempSync(join(tmpdir(), 'genai-cache-')), 'cache')

function spec(device: string, overrides: Partial<GeneratorLoadSpec> = {}): GeneratorLoadSpec {
  return {
    name: 'tiny-llama-chat',
    version: '1',
    modelPath: join(DIR, '1', 'openvino_model.xml'),
    modelDir: DIR,
    device,
    section: GenerationSectionSchema.parse({ max_prompt_len: MAX_PROMPT_LEN, min_response_len: 64 }),
    threads: 1,
    stepTimeoutMs: 20_000,
    loadTimeoutMs: 60_000,
    cacheDir,
    ...overrides,
  }
}

function fakeBackend(faults: Record<string, FakeGenaiFaults> = {}) {
  const fake = createFakeOpenvinoGenai({
    devices: ['CPU', 'NPU'],
    generationThreadEntry: GENERATION_THREAD_ENTRY,
    faults,
  })
  const backend = new OpenvinoGenaiBackend({
    loadRuntime: async () => ({ runtime: fake.runtime, error: null }),
    listDevices: () => ['CPU', 'NPU'],
    onClose: () => fake.close(),
  })
  return { fake, backend }
}

/** The ONNX Runtime engine's greedy answer: what every fake device must answer. */
async function reference(prompt: string, maxTokens: number): Promise<string> {
  const engine = await startTinyEngine()
  try {
    return (await engine.generate({ kind: 'completion', prompt }, { max_tokens: maxTokens })).text
  } finally {
    await engine.unload()
  }
}

/** A prompt of more than MAX_PROMPT_LEN tokens of the tiny tokenizer. */
const OVERLONG = 'The workers of the fleet answer every request. '.repeat(12)
expect(TINY_TOKENIZER.encode(OVERLONG, true).length).toBeGreaterThan(MAX_PROMPT_LEN)

describeGenaiContract('OpenVINO GenAI generator on the fake CPU', {
  backend: () => fakeBackend().backend,
  spec: spec('CPU'),
  reference,
  overlongPrompt: null,
})

describeGenaiContract('OpenVINO GenAI generator on the fake NPU', {
  backend: () => fakeBackend().backend,
  spec: spec('NPU'),
  reference,
  overlongPrompt: OVERLONG,
})

describe('OpenvinoGenaiBackend on the fake runtime', () => {
  const open: TextGenerator[] = []
  afterAll(async () => {
    await Promise.all(open.map((g) => g.unload()))
  })

  it('gives the NPU pipeline MAX_PROMPT_LEN, MIN_RESPONSE_LEN, GENERATE_HINT and the CACHE_DIR it created', async () => {
    const { fake, backend } = fakeBackend()
    const generator = await backend.load(spec('NPU'))
    open.push(generator)
    expect(fake.record.pipelines.at(-1)).toEqual({
      modelPath: join(DIR, '1'),
      device: 'NPU',
      properties: {
        CACHE_DIR: cacheDir,
        MAX_PROMPT_LEN: '48',
        MIN_RESPONSE_LEN: '64',
        GENERATE_HINT: 'FAST_COMPILE',
      },
    })
    // The backend made the folder (the fake never creates it), so a permission problem names it at load.
    expect(existsSync(cacheDir)).toBe(true)
    expect(generator.limits).toMatchObject({ context_length: 48 + 64, max_prompt_tokens: 48 })
    const cpu = await backend.load(spec('CPU'))
    open.push(cpu)
    expect(fake.record.pipelines.at(-1)?.properties).toEqual({ CACHE_DIR: cacheDir })
    expect(cpu.limits.max_prompt_tokens).toBeNull()
    await backend.close()
  })

  it('the refusal matters: the NPU pipeline itself answers an overlong prompt, wrongly', async () => {
    const { fake } = fakeBackend()
    const pipeline = await fake.runtime.LLMPipeline(join(DIR, '1'), 'NPU', {
      MAX_PROMPT_LEN: String(MAX_PROMPT_LEN),
    })
    const config = { max_new_tokens: 12, apply_chat_template: false }
    const wrong = await pipeline.generate(OVERLONG, config)
    expect(fake.record.overlongPrompts).toBe(1)
    const cpu = await fake.runtime.LLMPipeline(join(DIR, '1'), 'CPU', {})
    const right = await cpu.generate(OVERLONG, config)
    expect(wrong.texts[0]).not.toBe(right.texts[0])
    expect(right.texts[0]).toBe(await reference(OVERLONG, 12))
    await fake.close()
  })

  it('names why it cannot load: no IR in the folder, a device the runtime does not list', async () => {
    const { backend } = fakeBackend()
    const onnxOnly = writeTinyLlama()
    const noIr = spec('NPU', { modelPath: join(onnxOnly, '1', 'model.onnx'), modelDir: onnxOnly })
    expect(backend.cannotLoad(noIr)).toMatch(/openvino_model\.xml does not exist/)
    await expect(backend.load(noIr)).rejects.toThrow(/openvino_model\.xml does not exist/)
    await expect(backend.load(spec('GPU'))).rejects.toThrow(/Device with "GPU" name is not registered/)
    await backend.close()
  })

  it('a pipeline that stops answering: step_timeout, abandoned and replaced, then serving again', async () => {
    const { backend } = fakeBackend({ 'tiny-llama-chat': { hang: { after: 1 } } })
    const generator = await backend.load(spec('CPU', { stepTimeoutMs: 1_500 }))
    open.push(generator)
    const conditions: string[] = []
    generator.onConditionChange((c) => conditions.push(c.kind))
    const input = { kind: 'completion', prompt: 'The fleet' } as const
    expect((await generator.generate(input, { max_tokens: 4 })).finish_reason).toBe('length')
    // The second generation of that pipeline never answers; one queued behind it waits for the replacement.
    const stuck = generator.generate(input, { max_tokens: 4 })
    const queued = generator.generate(input, { max_tokens: 4 })
    await expect(stuck).rejects.toMatchObject({ code: 'step_timeout' })
    expect(generator.abandonedCalls()).toEqual([
      expect.objectContaining({
        model: 'tiny-llama-chat',
        version: '1',
        thread: 'genai:tiny-llama-chat:1#0',
      }),
    ])
    expect(conditions[0]).toBe('recovering')
    expect((await queued).finish_reason).toBe('length')
    await waitFor(() => generator.condition().kind === 'serving', 'the replacement pipeline')
    expect(conditions.at(-1)).toBe('serving')
  })

  it('a replacement that cannot be created backs off, and fails the calls waiting meanwhile', async () => {
    const { backend } = fakeBackend({
      'tiny-llama-chat': { hang: { after: 0 }, failCreations: { after: 1, count: 1 } },
    })
    const generator = await backend.load(spec('CPU', { stepTimeoutMs: 1_000 }))
    open.push(generator)
    const input = { kind: 'completion', prompt: 'The fleet' } as const
    const stuck = generator.generate(input, { max_tokens: 4 })
    const waiting = generator.generate(input, { max_tokens: 4 })
    await expect(stuck).rejects.toMatchObject({ code: 'step_timeout' })
    await expect(waiting).rejects.toMatchObject({ code: 'engine_failed' })
    const condition = generator.condition()
    expect(condition).toMatchObject({ kind: 'recovering', attempt: 1 })
    expect(condition.kind === 'recovering' && condition.reason).toMatch(
      /the replacement failed: .*injected failure/,
    )
    // The retry (after 1 s) gets a pipeline; it hangs too (hang after 0), which the test does not wait for.
    await waitFor(() => generator.condition().kind === 'serving', 'the retried replacement', 30_000)
  })
})
