import type { BackendName } from '@npu-fleet/protocol'
import type { FastifyBaseLogger } from 'fastify'
import type { ZodType } from 'zod'
import type { Tensor } from '../backends/tensor.js'
import type { GenerationInput, GenerationParameters } from '../generation/text-generator.js'
import type { GenerationRun } from '../scheduler/generation-scheduler.js'

/** Result of one model call made by a pipeline, with where it ran. */
export interface ModelCallResult {
  outputs: Record<string, Tensor>
  model: string
  backend: BackendName
  device: string
}

/** What a pipeline may use while it runs one task. */
export interface TaskContext {
  /**
   * Run a model through the worker's scheduler (admission control, deadline, cancellation),
   * exactly as a KServe request would. Rejects with the scheduler's NPU_ERR_* errors.
   */
  infer(
    model: string,
    inputs: Record<string, Tensor>,
    outputNames?: readonly string[],
  ): Promise<ModelCallResult>
  /**
   * Generate text with a language model through the generation scheduler (admission control, what is left of
   * the task's deadline, cancellation). Rejects with the scheduler's NPU_ERR_* errors.
   */
  generate(model: string, input: GenerationInput, parameters: GenerationParameters): Promise<GenerationRun>
  /** Aborted when the client disconnects or the deadline passes. */
  signal: AbortSignal
  log: FastifyBaseLogger
}

/** What a pipeline returns: its result and the model call that mattered most (for the reply envelope). */
export interface TaskOutcome<R> {
  result: R
  model: string
  backend: BackendName
  device: string
}

/** A task type served under `POST /v1/tasks/{type}`: pre-processing, model calls, post-processing. */
export interface TaskPipeline<I = unknown, R = unknown> {
  /** The `{type}` in the route, e.g. `ocr`, `embeddings`. */
  readonly type: string
  /** Models this pipeline needs; the task is offered only while all of them can serve (unless `unavailableReason` says otherwise). */
  readonly models: readonly string[]
  /**
   * Why the task cannot serve now, or null when it can; overrides the all-models-serve rule, e.g. "at least
   * one embedding model can serve, with its tokenizer".
   */
  unavailableReason?(): string | null
  /** Validates the JSON body; errors become 400 NPU_ERR_BAD_TASK_INPUT naming the field. */
  readonly inputSchema: ZodType<I>
  /** The input takes a `model` (so `/inference`'s `model_name` is passed on as it). */
  readonly choosesModel?: boolean
  /** The old system's `/inference` `input_data` forms that are not the input object (a bare string...), converted. */
  legacyInput?(inputData: unknown): unknown
  /**
   * Accepts a raw (non-JSON) body too, e.g. `image/*` for OCR: `contentTypes` are the media types taken
   * as a Buffer, `toInput` turns the bytes (and the query string) into the pipeline's input.
   */
  readonly rawBody?: {
    readonly contentTypes: readonly string[]
    toInput(body: Buffer, query: Record<string, string | undefined>): I
  }
  run(input: I, ctx: TaskContext): Promise<TaskOutcome<R>>
}
