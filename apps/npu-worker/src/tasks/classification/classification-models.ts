import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import type { LoadedModel } from '../../backends/backend.js'
import { ErrModelNotFound, ErrModelNotReady } from '../../errors.js'
import { readJsonFile } from '../../models/json-file.js'
import type { ClassificationSection } from '../../models/model-manifest.js'
import type { ModelRegistry } from '../../models/model-registry.js'
import type { RegisteredModel } from '../../models/registered-model.js'
import { encoderInputProblem } from '../embeddings/encoder-batch.js'
import { SentenceTokenizer } from '../embeddings/sentence-tokenizer.js'

/** One ready classifier, with everything a request needs. */
export interface ClassifierTarget {
  name: string
  model: LoadedModel
  config: ClassificationSection
  tokenizer: SentenceTokenizer
  labels: readonly string[]
  /** config.json `problem_type: multi_label_classification`: each label scored alone (sigmoid), else softmax. */
  multiLabel: boolean
  maxTokens: number
  /** Columns of every batch when the model is compiled for one length (NPU), else null (the longest text). */
  staticLength: number | null
  /** Rows of every batch when the model is compiled for one batch size above 1, else null. */
  staticRows: number | null
}

/** What a classifier's folder says about its labels, read once. */
interface ClassifierFiles {
  tokenizer: SentenceTokenizer
  labels: readonly string[]
  multiLabel: boolean
}

/** The folders a model's side files are looked up in: the version folder, then the model folder. */
function folders(model: RegisteredModel): string[] {
  return [...new Set([dirname(model.modelPath), model.spec.modelDir])]
}

function find(model: RegisteredModel, file: string): string | null {
  return (
    folders(model)
      .map((f) => join(f, file))
      .find((p) => existsSync(p)) ?? null
  )
}

/** Labels by class index: model.yaml's, else config.json `id2label` (keys are the indices). */
function readLabels(
  model: RegisteredModel,
  section: ClassificationSection,
): { labels: string[]; multiLabel: boolean } {
  const path = find(model, 'config.json')
  const config = path ? readJsonFile(path) : {}
  const multiLabel = config.problem_type === 'multi_label_classification'
  if (section.labels) return { labels: [...section.labels], multiLabel }
  const id2label = config.id2label
  if (!id2label || typeof id2label !== 'object') {
    throw new Error('no labels: set classification.labels in model.yaml, or give config.json an id2label')
  }
  const entries = Object.entries(id2label as Record<string, unknown>).map(
    ([k, v]) => [Number(k), String(v)] as const,
  )
  const labels = entries
    .sort((a, b) => a[0] - b[0])
    .map(([index, label], i) => {
      if (index !== i) throw new Error(`config.json id2label: indices must be 0..${entries.length - 1}`)
      return label
    })
  if (labels.length < 2) throw new Error('config.json id2label: at least two labels are needed')
  return { labels, multiLabel }
}

/**
 * The registry's models with a `classification:` section, and whether each can serve now: model ready,
 * tokenizer and labels read, inputs the pipeline can fill, the logits output `[batch, labels]` present.
 */
export class ClassificationModels {
  /** Names of the classifiers, sorted; the first is the default. */
  readonly names: readonly string[]
  readonly #files = new WeakMap<RegisteredModel, ClassifierFiles | Error>()

  constructor(readonly registry: ModelRegistry) {
    this.names = registry.names.filter((n) => registry.versions(n).some((m) => m.manifest.classification))
  }

  /** Null while at least one classifier can serve, else why none can. */
  unavailableReason(): string | null {
    const reasons: string[] = []
    for (const name of this.names) {
      const usable = this.#usable(name)
      if (!(usable instanceof Error)) return null
      reasons.push(`${name}: ${usable.message}`)
    }
    return `no classification model can serve: ${reasons.join('; ') || 'none installed'}`
  }

  /** The classifier for a request's `model` (default: the first); 404 or 503 when it cannot serve. */
  target(requested: string | undefined): ClassifierTarget {
    const name = requested ?? this.names[0]
    if (name === undefined || !this.names.includes(name)) {
      throw new ErrModelNotFound(
        `${name ?? 'none'} (classification models: ${this.names.join(', ') || 'none'})`,
      )
    }
    const usable = this.#usable(name)
    if (usable instanceof Error) throw new ErrModelNotReady(name, usable.message)
    return usable
  }

  #usable(name: string): ClassifierTarget | Error {
    const registered = this.registry.resolve(name)
    const config = registered?.manifest.classification
    if (!registered || !config) return new Error('not in the repository')
    const model = registered.ready()
    if (!model) {
      const why = registered.reason()
      return new Error(`${registered.state.kind}${why ? `: ${why}` : ''}`)
    }
    const files = this.#read(registered, config)
    if (files instanceof Error) return files
    const inputProblem = encoderInputProblem(model.inputs)
    if (inputProblem) return new Error(inputProblem)
    const output = model.outputs.find((o) => o.name === config.output)
    if (!output) {
      return new Error(
        `classification.output "${config.output}" is not an output of the model (outputs: ${model.outputs.map((o) => o.name).join(', ')})`,
      )
    }
    const classes = output.shape[1]
    if (
      output.shape.length !== 2 ||
      (classes !== undefined && classes > 0 && classes !== files.labels.length)
    ) {
      return new Error(
        `output "${output.name}" has shape [${output.shape}]; logits [batch, ${files.labels.length}] (one per label) are expected`,
      )
    }
    const ids = model.inputs.find((i) => i.name === 'input_ids')
    const compiledLength = ids?.shape[1] !== undefined && ids.shape[1] > 0 ? ids.shape[1] : null
    const compiledRows = model.compiledBatchSizes?.[0] ?? null
    return {
      name,
      model,
      config,
      ...files,
      maxTokens: Math.min(config.sequence_length, compiledLength ?? Number.POSITIVE_INFINITY),
      staticLength: compiledLength,
      staticRows: compiledRows !== null && compiledRows > 1 ? compiledRows : null,
    }
  }

  #read(registered: RegisteredModel, config: ClassificationSection): ClassifierFiles | Error {
    let files = this.#files.get(registered)
    if (!files) {
      try {
        const path = find(registered, config.tokenizer)
        if (!path) throw new Error(`${config.tokenizer} not found in ${folders(registered).join(' or ')}`)
        files = { tokenizer: SentenceTokenizer.fromFile(path), ...readLabels(registered, config) }
      } catch (error) {
        files = error as Error
      }
      this.#files.set(registered, files)
    }
    return files
  }
}
