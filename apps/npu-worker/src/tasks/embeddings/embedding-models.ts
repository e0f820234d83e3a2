import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import type { LoadedModel } from '../../backends/backend.js'
import { ErrModelNotFound, ErrModelNotReady } from '../../errors.js'
import type { EmbeddingsSection } from '../../models/model-manifest.js'
import type { ModelRegistry } from '../../models/model-registry.js'
import type { RegisteredModel } from '../../models/registered-model.js'
import { encoderInputProblem } from './encoder-batch.js'
import { SentenceTokenizer } from './sentence-tokenizer.js'

/** One ready embeddings model version, with everything a request needs to use it. */
export interface EmbeddingTarget {
  name: string
  model: LoadedModel
  config: EmbeddingsSection
  tokenizer: SentenceTokenizer
  /** Tokens per text, special tokens included: `sequence_length`, or less if the model is compiled shorter. */
  maxTokens: number
  /** Columns of every batch when the model is compiled for one sequence length (NPU); null pads to the longest text. */
  staticLength: number | null
  /** Texts per model call. */
  textsPerCall: number
  /** Rows of every batch when the model is compiled for one batch size above 1 (filler rows complete it), else null. */
  staticRows: number | null
  /**
   * The model has `batching:` in model.yaml: every call is padded to `maxTokens` columns so that concurrent
   * requests have the same per-row shape and the worker's dynamic batcher can merge them (it also pads rows).
   */
  mergeable: boolean
}

type Usable = { ok: true; target: EmbeddingTarget } | { ok: false; reason: string }

/**
 * The registry's models with an `embeddings:` section in model.yaml, and whether each can serve now: model
 * ready, tokenizer file loaded, inputs the pipeline can fill, the configured output present.
 */
export class EmbeddingModels {
  /** Names of the embeddings models, sorted; the first is the default. */
  readonly names: readonly string[]
  /** Tokenizer of each model version, read on first use; a file that failed keeps its error until restart. */
  readonly #tokenizers = new WeakMap<RegisteredModel, SentenceTokenizer | Error>()

  constructor(readonly registry: ModelRegistry) {
    this.names = registry.names.filter((name) => registry.versions(name).some((m) => m.manifest.embeddings))
  }

  /** The model a request without `model` gets: the first embeddings model by name (stable, never a silent switch). */
  get defaultName(): string | undefined {
    return this.names[0]
  }

  /** Null when at least one embeddings model can serve, else why none can (per model). */
  unavailableReason(): string | null {
    const reasons: string[] = []
    for (const name of this.names) {
      const usable = this.#usable(name)
      if (usable.ok) return null
      reasons.push(`${name}: ${usable.reason}`)
    }
    return reasons.length > 0 ? `no embeddings model can serve: ${reasons.join('; ')}` : 'no embeddings model'
  }

  /**
   * The model to run for a request's `model` (default: `defaultName`). Throws NPU_ERR_MODEL_NOT_FOUND (404)
   * for a name that is not an embeddings model, NPU_ERR_MODEL_NOT_READY (503) when it cannot serve now.
   */
  target(requested: string | undefined): EmbeddingTarget {
    const name = requested ?? this.defaultName
    if (name === undefined) throw new ErrModelNotFound('no embeddings model is installed on this worker')
    if (!this.names.includes(name)) {
      const known = this.names.join(', ') || 'none'
      throw new ErrModelNotFound(
        this.registry.names.includes(name)
          ? `${name} has no embeddings section in its model.yaml (embeddings models: ${known})`
          : `${name} (embeddings models: ${known})`,
      )
    }
    const usable = this.#usable(name)
    if (!usable.ok) throw new ErrModelNotReady(name, usable.reason)
    return usable.target
  }

  #usable(name: string): Usable {
    const registered = this.registry.resolve(name)
    if (!registered) return { ok: false, reason: 'not in the repository' }
    const config = registered.manifest.embeddings
    if (!config) return { ok: false, reason: `version ${registered.version} has no embeddings section` }
    const model = registered.ready()
    if (!model) {
      const why = registered.reason()
      return { ok: false, reason: `${registered.state.kind}${why ? `: ${why}` : ''}` }
    }
    const tokenizer = this.#tokenizer(registered, config)
    if (tokenizer instanceof Error) return { ok: false, reason: tokenizer.message }
    const inputProblem = encoderInputProblem(model.inputs)
    if (inputProblem) return { ok: false, reason: inputProblem }
    const output = model.outputs.find((o) => o.name === config.output)
    if (!output) {
      return {
        ok: false,
        reason: `embeddings.output "${config.output}" is not an output of the model (outputs: ${model.outputs.map((o) => o.name).join(', ')})`,
      }
    }
    if (output.shape.length !== 3) {
      return {
        ok: false,
        reason: `output "${output.name}" has shape [${output.shape}]; token vectors [batch, sequence, hidden] are expected`,
      }
    }
    const ids = model.inputs.find((i) => i.name === 'input_ids')
    const compiledLength = ids?.shape[1] !== undefined && ids.shape[1] > 0 ? ids.shape[1] : null
    const maxTokens = Math.min(config.sequence_length, compiledLength ?? Number.POSITIVE_INFINITY)
    if (maxTokens <= tokenizer.specialCount) {
      return {
        ok: false,
        reason: `sequence length ${maxTokens} leaves no room next to ${tokenizer.specialCount} special tokens`,
      }
    }
    const mergeable = registered.manifest.batching !== undefined
    const compiledRows = model.compiledBatchSizes?.[0] ?? null
    // With dynamic batching the scheduler pads merged rows to the compiled batch; the pipeline must not.
    const staticRows = !mergeable && compiledRows !== null && compiledRows > 1 ? compiledRows : null
    return {
      ok: true,
      target: {
        name,
        model,
        config,
        tokenizer,
        maxTokens,
        staticLength: compiledLength,
        textsPerCall: Math.min(config.max_batch_size, staticRows ?? Number.POSITIVE_INFINITY),
        staticRows,
        mergeable,
      },
    }
  }

  /** The version's tokenizer: `embeddings.tokenizer` in its version folder, else in the model folder. */
  #tokenizer(registered: RegisteredModel, config: EmbeddingsSection): SentenceTokenizer | Error {
    let tokenizer = this.#tokenizers.get(registered)
    if (!tokenizer) {
      const folders = [...new Set([dirname(registered.modelPath), registered.spec.modelDir])]
      const path = folders.map((folder) => join(folder, config.tokenizer)).find((p) => existsSync(p))
      try {
        tokenizer = path
          ? SentenceTokenizer.fromFile(path)
          : new Error(`${config.tokenizer} not found in ${folders.join(' or ')}`)
      } catch (error) {
        tokenizer = error as Error
      }
      this.#tokenizers.set(registered, tokenizer)
    }
    return tokenizer
  }
}
