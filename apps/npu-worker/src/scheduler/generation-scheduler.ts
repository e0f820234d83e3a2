import type { BackendName, Load } from '@npu-fleet/protocol'
import {
  ErrCancelled,
  ErrContextLengthExceeded,
  ErrDeadlineExceeded,
  ErrInferenceFailed,
  ErrInferenceTimeout,
  ErrInvalidParameter,
  ErrPromptTooLong,
  ErrQueueFull,
  ErrTemplateFailed,
} from '../errors.js'
import {
  type GenerationChunk,
  GenerationError,
  type GenerationInput,
  type GenerationParameters,
  type GenerationResult,
} from '../generation/text-generator.js'
import type { RegisteredGenerator } from '../models/registered-generator.js'

/** Options of one scheduled generation. */
export interface GenerationRunOptions {
  /** Aborted when the client goes away: a waiting request is dropped, a running one stops at the next token. */
  signal?: AbortSignal
  /** Milliseconds from now for the whole generation (queueing included); past it the caller gets a 504. */
  deadlineMs: number
  /** Each piece of text as soon as it is final. */
  onChunk?: (chunk: GenerationChunk) => void
}

/** A finished generation and where it ran. */
export interface GenerationRun {
  /** `finish_reason` is `stop` or `length`: a cancelled generation rejects instead. */
  result: GenerationResult & { finish_reason: 'stop' | 'length' }
  model: string
  version: string
  backend: BackendName
  device: string
}

/** Called after every generation that ran, for metrics. */
export type GenerationObserver = (
  model: RegisteredGenerator,
  seconds: number,
  ok: boolean,
  tokens: number,
) => void

/** Options of the generation scheduler. */
export interface GenerationSchedulerOptions {
  /** Requests allowed to wait per model unless model.yaml `queue.max_queued` says otherwise. */
  defaultMaxQueued: number
  onGeneration?: GenerationObserver
}

/**
 * Admission control and deadlines of text generation, per language model: at most `max_sequences` generate at
 * once (the generator's own slots) and at most the model's queue capacity wait for one; anything beyond is
 * refused at once with 503 + Retry-After. One deadline covers the whole generation, waiting included; a client
 * that goes away stops its generation at the next token, which frees its slot. Generator failures become the
 * worker's stable errors, naming the parameter at fault.
 */
export class GenerationScheduler {
  readonly #options: GenerationSchedulerOptions
  /** Exponentially weighted mean generation time per model, for the Retry-After estimate. */
  readonly #meanSeconds = new WeakMap<RegisteredGenerator, number>()

  constructor(options: GenerationSchedulerOptions) {
    this.#options = options
  }

  /** Requests allowed to wait for `model`. */
  queueCapacity(model: RegisteredGenerator): number {
    return model.queueCapacity(this.#options.defaultMaxQueued)
  }

  /** Seconds a refused client should wait: the time to work through what runs and waits now. */
  retryAfterSeconds(model: RegisteredGenerator): number {
    const generator = model.ready()
    const load = generator?.load() ?? { active: 0, waiting: 0 }
    const perSlot = (load.active + load.waiting) / Math.max(1, model.liveSlots())
    return Math.max(1, Math.ceil(perSlot * (this.#meanSeconds.get(model) ?? 5)))
  }

  /**
   * Generates under admission control. Rejects with NPU_ERR_MODEL_NOT_READY or _QUEUE_FULL (503), _CANCELLED,
   * _DEADLINE_EXCEEDED or _INFERENCE_TIMEOUT (504), _INVALID_PARAMETER, _CONTEXT_LENGTH_EXCEEDED,
   * _PROMPT_TOO_LONG or _TEMPLATE_FAILED (400), _INFERENCE_FAILED (500).
   */
  async run(
    model: RegisteredGenerator,
    input: GenerationInput,
    parameters: GenerationParameters,
    options: GenerationRunOptions,
  ): Promise<GenerationRun> {
    const generator = model.ready()
    if (!generator) throw model.notReadyError()
    if (options.signal?.aborted) throw new ErrCancelled()
    const load = generator.load()
    const capacity = this.queueCapacity(model)
    if (load.active >= model.liveSlots() && load.waiting >= capacity) {
      throw new ErrQueueFull(model.name, load.waiting, this.retryAfterSeconds(model))
    }
    const controller = new AbortController()
    let deadlinePassed = false
    const timer = setTimeout(() => {
      deadlinePassed = true
      controller.abort()
    }, options.deadlineMs)
    const onClientGone = () => controller.abort()
    options.signal?.addEventListener('abort', onClientGone, { once: true })
    const started = performance.now()
    let result: GenerationResult
    try {
      result = await generator.generate(input, parameters, {
        signal: controller.signal,
        ...(options.onChunk ? { onChunk: options.onChunk } : {}),
      })
    } catch (error) {
      this.#observe(model, started, false, 0)
      throw this.#httpError(model, error)
    } finally {
      clearTimeout(timer)
      options.signal?.removeEventListener('abort', onClientGone)
    }
    this.#observe(model, started, result.finish_reason !== 'cancelled', result.usage.completion_tokens)
    if (result.finish_reason === 'cancelled') {
      if (deadlinePassed) throw new ErrDeadlineExceeded(options.deadlineMs)
      if (options.signal?.aborted) throw new ErrCancelled()
      // Neither the deadline nor the client: the model unloaded under it (shutdown).
      throw model.notReadyError()
    }
    return {
      result: result as GenerationRun['result'],
      model: model.name,
      version: model.version,
      backend: generator.backend,
      device: generator.device,
    }
  }

  /** Sequences running and waiting over the models that can serve now; `capacity` counts their live slots. */
  load(models: readonly RegisteredGenerator[]): Load {
    const load = { active: 0, queued: 0, capacity: 0, queue_capacity: 0 }
    for (const model of models) {
      const generator = model.ready()
      if (!generator) continue
      const now = generator.load()
      load.active += now.active
      load.queued += now.waiting
      load.capacity += model.liveSlots()
      load.queue_capacity += this.queueCapacity(model)
    }
    return load
  }

  /** Sequences generating now, on any model (native work a forced exit must not interrupt). */
  active(models: readonly RegisteredGenerator[]): number {
    return models.reduce((n, m) => n + (m.serving()?.generator.load().active ?? 0), 0)
  }

  /** Resolves once no model generates or has requests waiting (graceful shutdown). */
  async drain(models: readonly RegisteredGenerator[], pollMs = 20): Promise<void> {
    const busy = () =>
      models.some((m) => {
        const load = m.serving()?.generator.load()
        return load !== undefined && load.active + load.waiting > 0
      })
    while (busy()) await new Promise((resolve) => setTimeout(resolve, pollMs))
  }

  #observe(model: RegisteredGenerator, started: number, ok: boolean, tokens: number): void {
    const seconds = (performance.now() - started) / 1000
    if (ok) this.#meanSeconds.set(model, 0.8 * (this.#meanSeconds.get(model) ?? seconds) + 0.2 * seconds)
    this.#options.onGeneration?.(model, seconds, ok, tokens)
  }

  /** A generator's failure as the worker's stable error. */
  #httpError(model: RegisteredGenerator, error: unknown): Error {
    if (!(error instanceof GenerationError)) {
      return new ErrInferenceFailed(`${model.name}:${model.version}`, (error as Error).message)
    }
    const field = error.field ?? (error.code === 'template_failed' ? 'messages' : 'model')
    switch (error.code) {
      case 'invalid_parameter':
        return new ErrInvalidParameter(field, error.message)
      case 'context_length_exceeded':
        return new ErrContextLengthExceeded(field, error.message)
      case 'prompt_too_long':
        return new ErrPromptTooLong(field, error.message)
      case 'template_failed':
        return new ErrTemplateFailed(field, error.message)
      case 'step_timeout':
        return new ErrInferenceTimeout(
          `${model.name}:${model.version}`,
          model.ready()?.limits.step_timeout_ms ?? model.serving()?.generator.limits.step_timeout_ms ?? 0,
        )
      case 'engine_failed':
        return new ErrInferenceFailed(`${model.name}:${model.version}`, error.message)
      case 'unavailable':
        return model.notReadyError()
    }
  }
}
