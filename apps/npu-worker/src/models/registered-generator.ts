import type { GenerationHealth, ModelHealth } from '@npu-fleet/protocol'
import type { GenerationRuntime } from '../generation/generation-backend.js'
import type { GenerationSection } from '../generation/generation-manifest.js'
import type { TextGenerator } from '../generation/text-generator.js'
import type { GeneratorGolden } from './generator-self-test.js'
import { ModelVersion } from './model-version.js'

/** A language model that loaded: its generator and what was decided about it at load. */
export interface GeneratorServing {
  readonly generator: TextGenerator
  readonly runtime: GenerationRuntime
  /** The golden prompt's reference answer its self-tests compare with. */
  readonly golden: GeneratorGolden
}

/**
 * One language-model version (`generation:` in model.yaml) and its lifecycle ({@link ModelVersion}: the same
 * state union as every model); `ready()` is the one readiness check of the OpenAI routes and text tasks. Its
 * slots are sequences generated at once.
 */
export class RegisteredGenerator extends ModelVersion<GeneratorServing, TextGenerator> {
  protected runnableOf(serving: GeneratorServing): TextGenerator {
    return serving.generator
  }
  protected slotsOf(serving: GeneratorServing): number {
    return serving.generator.limits.max_sequences
  }

  /** The `generation:` section (always present: only such models are registered as generators). */
  get section(): GenerationSection {
    return this.spec.manifest.generation as GenerationSection
  }

  /** True when it generates somewhere other than its first choice (OpenVINO GenAI on its first device). */
  get onFallback(): boolean {
    const serving = this.serving()
    if (!serving) return false
    return serving.runtime !== 'openvino_genai' || serving.generator.device !== this.manifest.devices[0]
  }

  /** This version in the protocol's `/health` shape, with its generation limits and load. */
  health(defaultMaxQueued: number, abandonedCalls = 0): ModelHealth {
    const serving = this.serving()
    const generator = serving?.generator ?? null
    const configured = this.section.max_sequences
    return {
      ...this.commonHealth(abandonedCalls),
      compiled_batch_sizes: null,
      parallelism: serving
        ? {
            configured,
            loaded: serving.generator.limits.max_sequences,
            live: this.liveSlots(),
            reason: this.#parallelismReason(serving, configured),
          }
        : null,
      precision: generator?.precision ?? null,
      generation: serving ? this.#generationHealth(serving, defaultMaxQueued) : null,
    }
  }

  #generationHealth(serving: GeneratorServing, defaultMaxQueued: number): GenerationHealth {
    const { limits } = serving.generator
    const load = serving.generator.load()
    return {
      runtime: serving.runtime,
      active: load.active,
      queued: load.waiting,
      max_sequences: this.liveSlots(),
      max_queued: this.queueCapacity(defaultMaxQueued),
      context_length: limits.context_length,
      max_prompt_tokens: limits.max_prompt_tokens,
      default_max_tokens: limits.default_max_tokens,
    }
  }

  #parallelismReason(serving: GeneratorServing, configured: number): string | null {
    const reasons: string[] = []
    const loaded = serving.generator.limits.max_sequences
    if (loaded < configured) {
      reasons.push(
        serving.runtime === 'openvino_genai'
          ? `OpenVINO GenAI's LLMPipeline generates one sequence at a time on ${serving.generator.device}`
          : `${loaded} of ${configured} configured sequences`,
      )
    }
    const condition = this.condition
    if (this.liveSlots() < loaded && condition.kind !== 'serving') reasons.push(condition.reason)
    return reasons.length > 0 ? reasons.join('; ') : null
  }
}
