// Shared set-up of the generation tests: the generated tiny-llama-chat model written to a temporary folder
// (fresh from the generator, not the build output) and engines started on it with the compiled thread entry.
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type GenerationFiles, resolveGenerationFiles } from '../../src/generation/generation-files.js'
import { GenerationSectionSchema } from '../../src/generation/generation-manifest.js'
import { OnnxGenerationEngine, type OnnxGenerationSpec } from '../../src/generation/onnx-generation-engine.js'
import { TextTokenizer } from '../../src/generation/text-tokenizer.js'
import { buildTinyLlamaFiles } from '../../src/models/tiny-llama-model.js'

/** The compiled thread entry: worker threads cannot load TypeScript, so tests run the build's copy (turbo builds first). */
export const GENERATION_THREAD_ENTRY = new URL('../../dist/generation/generation-thread.js', import.meta.url)
if (!existsSync(GENERATION_THREAD_ENTRY)) {
  throw new Error(`${fileURLToPath(GENERATION_THREAD_ENTRY)} is missing: build the worker first (pnpm build)`)
}

/** Writes the generated model's files into a new temporary model folder; returns the folder. */
export function writeTinyLlama(files: Record<string, string | Uint8Array> = buildTinyLlamaFiles()): string {
  const dir = mkdtempSync(join(tmpdir(), 'tiny-llama-'))
  for (const [file, data] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, file)), { recursive: true })
    writeFileSync(join(dir, file), data)
  }
  return dir
}

/** The tiny model, written once per test file. */
export const TINY_DIR = writeTinyLlama()
/** Its files as the engine resolves them. */
export const TINY_FILES: GenerationFiles = resolveGenerationFiles(
  join(TINY_DIR, '1', 'model.onnx'),
  TINY_DIR,
  GenerationSectionSchema.parse({}),
)
/** Its tokenizer, for tests that check text against token ids. */
export const TINY_TOKENIZER = TextTokenizer.fromFiles(TINY_FILES.tokenizer, TINY_FILES.tokenizerConfig)

/** The engine spec for the tiny model; `overrides` change single fields. */
export function tinySpec(overrides: Partial<OnnxGenerationSpec> = {}): OnnxGenerationSpec {
  return {
    name: 'tiny-llama-chat',
    version: '1',
    files: TINY_FILES,
    threads: 1,
    contextLength: null,
    maxSequences: 8,
    defaultMaxTokens: 64,
    prefillChunkTokens: 128,
    // Generous: under a loaded 2-core machine a step of the tiny model takes well under a second.
    stepTimeoutMs: 20_000,
    loadTimeoutMs: 60_000,
    threadEntry: GENERATION_THREAD_ENTRY,
    faults: null,
    ...overrides,
  }
}

/** Starts an engine on the tiny model. */
export function startTinyEngine(overrides: Partial<OnnxGenerationSpec> = {}): Promise<OnnxGenerationEngine> {
  return OnnxGenerationEngine.start(tinySpec(overrides))
}

/** Resolves once `check` holds, polling; fails after `timeoutMs` (a deadline that never decides a passing run). */
export async function waitFor(check: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

/** True when `text` has no lone surrogate (so it is valid UTF-16 and encodes as UTF-8); String#isWellFormed is ES2024. */
export function isWellFormed(text: string): boolean {
  return !/\p{Cs}/u.test(text)
}
