// One contract for the OpenVINO GenAI generator, run against the fake runtime (CPU and NPU) and, on a host where
// openvino-genai-node loads, against the real one (openvino-genai-real-runtime.test.ts). Everything it checks is
// what the worker's routes rely on: deterministic greedy answers, streams that concatenate to the answer, stop
// strings cut before the match, cancellation that frees the one slot, arrival-order queueing, the context and
// MAX_PROMPT_LEN refusals, and a bounded unload.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { GenerationBackend, GeneratorLoadSpec } from '../../src/generation/generation-backend.js'
import { streamGeneration } from '../../src/generation/generation-stream.js'
import {
  GenerationError,
  type GenerationInput,
  type GenerationResult,
  type TextGenerator,
} from '../../src/generation/text-generator.js'
import { waitFor } from './generation-harness.js'

/** What one run of the contract needs. */
export interface GenaiContractOptions {
  backend: () => GenerationBackend
  spec: GeneratorLoadSpec
  /** The answer ONNX Runtime gives to a greedy completion of `prompt` (null: no ONNX decoder to compare with). */
  reference: ((prompt: string, maxTokens: number) => Promise<string>) | null
  /** A prompt longer than the pipeline's MAX_PROMPT_LEN (NPU), or null when there is no such limit. */
  overlongPrompt: string | null
}

const completion = (prompt: string): GenerationInput => ({ kind: 'completion', prompt })
const PROMPT = 'The fleet of workers'

/** Runs the GenAI generator contract against `options.backend()` loading `options.spec`. */
export function describeGenaiContract(title: string, options: GenaiContractOptions): void {
  describe(title, () => {
    let backend: GenerationBackend
    let generator: TextGenerator
    let greedy: GenerationResult
    /** An answer length that fits the context with the prompt (the fake NPU's holds 112 tokens). */
    const long = () => Math.min(200, generator.limits.context_length - 32)

    beforeAll(async () => {
      backend = options.backend()
      generator = await backend.load(options.spec)
      greedy = await generator.generate(completion(PROMPT), { max_tokens: 24 })
    }, 300_000)
    afterAll(async () => {
      await generator?.unload()
      await backend?.close()
    })

    it('reports the backend, device, one sequence at a time and its limits', () => {
      expect(generator.backend).toBe('openvino')
      expect(generator.device).toBe(options.spec.device)
      expect(generator.limits.max_sequences).toBe(1)
      expect(generator.limits.context_length).toBeGreaterThan(0)
      expect(generator.condition()).toEqual({ kind: 'serving' })
    })

    it('decodes greedily and deterministically, with usage counts', async () => {
      expect(['stop', 'length']).toContain(greedy.finish_reason)
      expect(greedy.usage.prompt_tokens).toBeGreaterThan(0)
      expect(greedy.usage.completion_tokens).toBeGreaterThan(0)
      const again = await generator.generate(completion(PROMPT), { max_tokens: 24 })
      expect(again.text).toBe(greedy.text)
    })

    it.skipIf(options.reference === null)(
      'answers what ONNX Runtime answers on the same decoder',
      async () => {
        expect(greedy.text).toBe(await options.reference?.(PROMPT, 24))
      },
    )

    it('streams pieces that concatenate to the non-streamed answer', async () => {
      const stream = streamGeneration(generator, completion(PROMPT), { max_tokens: 24 })
      const pieces: string[] = []
      for await (const chunk of stream) pieces.push(chunk.text)
      expect(pieces.join('')).toBe(greedy.text)
      expect((await stream.result).text).toBe(greedy.text)
    })

    it('cuts before a stop string and never includes it', async () => {
      const stop = greedy.text.slice(4, 7)
      expect(stop.length).toBe(3)
      const cut = await generator.generate(completion(PROMPT), { max_tokens: 24, stop: [stop] })
      expect(cut.finish_reason).toBe('stop')
      expect(cut.text).toBe(greedy.text.slice(0, greedy.text.indexOf(stop)))
      expect(cut.text).not.toContain(stop)
    })

    it('cancels at the next piece when the signal aborts, and frees its slot', async () => {
      const controller = new AbortController()
      const pieces: string[] = []
      const result = await generator.generate(
        completion(PROMPT),
        { max_tokens: long() },
        {
          signal: controller.signal,
          onChunk: (chunk) => {
            pieces.push(chunk.text)
            controller.abort()
          },
        },
      )
      expect(result.finish_reason).toBe('cancelled')
      expect(result.text).toBe(pieces.join(''))
      expect(generator.load()).toEqual({ active: 0, waiting: 0 })
      expect((await generator.generate(completion(PROMPT), { max_tokens: 24 })).text).toBe(greedy.text)
    })

    it('runs one generation at a time; the next waits in arrival order', async () => {
      const first = generator.generate(completion(PROMPT), { max_tokens: 24 })
      const second = generator.generate(completion(PROMPT), { max_tokens: 24 })
      expect(generator.load()).toEqual({ active: 1, waiting: 1 })
      const [a, b] = await Promise.all([first, second])
      expect(a.text).toBe(greedy.text)
      expect(b.text).toBe(greedy.text)
      await waitFor(() => generator.load().active === 0, 'the slot to free')
    })

    it('refuses max_tokens beyond the context, naming max_tokens', async () => {
      const error = await generator
        .generate(completion(PROMPT), { max_tokens: generator.limits.context_length })
        .catch((e: unknown) => e)
      expect(error).toBeInstanceOf(GenerationError)
      expect(error).toMatchObject({ code: 'context_length_exceeded', field: 'max_tokens' })
    })

    it.skipIf(options.overlongPrompt === null)(
      'refuses a prompt longer than MAX_PROMPT_LEN before the device sees it (prompt_too_long)',
      async () => {
        const prompt = options.overlongPrompt as string
        await expect(generator.generate(completion(prompt), { max_tokens: 4 })).rejects.toMatchObject({
          code: 'prompt_too_long',
          field: 'prompt',
        })
        await expect(
          generator.generate(
            { kind: 'chat', messages: [{ role: 'user', content: prompt }] },
            { max_tokens: 4 },
          ),
        ).rejects.toMatchObject({ code: 'prompt_too_long', field: 'messages' })
        expect(generator.limits.max_prompt_tokens).not.toBeNull()
      },
    )

    it('unloads within bounded time and refuses calls after', async () => {
      const own = await backend.load(options.spec)
      const running = own.generate(completion(PROMPT), { max_tokens: long() })
      await own.unload()
      expect((await running).finish_reason).toBe('cancelled')
      await expect(own.generate(completion(PROMPT), {})).rejects.toMatchObject({ code: 'unavailable' })
    })
  })
}
